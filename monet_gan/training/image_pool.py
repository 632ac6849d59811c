"""A history of past fakes shown to a discriminator (Shrivastava et al., 2017; CycleGAN paper).

The discriminator is updated on a mix of the generator's newest fakes and fakes it made
earlier, so it does not chase only the latest output and the two networks oscillate less.
For each image of a batch: while the pool is not full, store it and return it; once full, with
probability 0.5 return a randomly chosen stored image and put the new one in its place,
otherwise return the new image. A pool of size 0 returns its input.

The pool runs unchanged on the TensorFlow and JAX backends (`keras.ops`, `keras.random`). All
its state is in non-trainable variables, changed only by `assign`: `images` (pool_size, H, W, C)
float32, `count` (how many slots are filled) and the state of a `keras.random.SeedGenerator`
that drives the draws. Eagerly and in a TensorFlow graph the assignments update the variables;
inside a jitted JAX step, `stateless_call` collects them and returns them as the new
non-trainable values, which the step threads on to the next. All of it is checkpointed (the
seed state too, see seed_state.py), so a resumed run continues with the same pool and the same random stream.

Design for TensorFlow distribution strategies: the pool's images and count are created with
synchronization=ON_READ and aggregation=ONLY_FIRST_REPLICA, so each replica keeps its OWN pool
of the fakes from its own share of the batch. This is the paper's algorithm run per replica;
the replicas never need to agree on a shared state inside the step (no cross-device traffic),
and an assignment in replica context just updates the local copy, which MirroredStrategy and
TPUStrategy both allow. A shared MirroredVariable pool would instead keep only the first
replica's writes (ONLY_FIRST_REPLICA) and silently drop the others' fakes. Outside replica
context (a checkpoint save, `.numpy()`), reading gives the first replica's pool; restoring a
checkpoint writes that pool to every replica, so a resumed run starts each replica with a
full, valid history. The seed state is the same on every replica; each replica takes its own
row of a draw made for all of them, so the replicas still choose independently. On the JAX
backend the batch is one (possibly sharded) array and there is a single pool.
"""

import random

import keras
from keras import ops

from monet_gan.training import seed_state


@keras.saving.register_keras_serializable(package="monet_gan")
class ImagePool(seed_state.SeededLayer):
    """The CycleGAN image history buffer as a Keras layer with in-graph state.

    Args:
        pool_size: how many past fakes to keep; the paper uses 50. 0 disables the pool.
        seed: integer seed of the random draws; None picks one from Python's global `random`
            (which `keras.utils.set_random_seed` also seeds).
        **kwargs: Layer arguments such as `name`. Inputs are not autocast: the pool returns
            the dtype it is given and always stores float32, so a mixed_bfloat16 global policy
            does not round the stored fakes.
    """

    def __init__(self, pool_size=50, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"pool_size must be a non-negative integer, got {pool_size!r}.")
        self.pool_size = pool_size
        self.seed = random.randrange(2**31 - 1) if seed is None else int(seed)

    def _state_variable(self, shape, dtype, name):
        # keras.Variable (not add_weight) because only it exposes `synchronization`; Keras
        # tracks it as a non-trainable weight all the same, and checkpoints save it.
        return keras.Variable(
            initializer="zeros",
            shape=shape,
            dtype=dtype,
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
            synchronization="on_read",
            name=name,
        )

    def build(self, input_shape):
        if self.pool_size == 0:
            return
        image_shape = tuple(input_shape[1:])
        if len(image_shape) != 3 or any(size is None for size in image_shape):
            raise ValueError(
                f"ImagePool needs images of a known (height, width, channels), got input shape {input_shape}."
            )
        self.images = self._state_variable((self.pool_size, *image_shape), "float32", "images")
        self.count = self._state_variable((), "int32", "count")
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")

    def _random_draws(self, batch_size):
        """Per-image uniform numbers in [0, 1) and pool slots, different on every call and replica."""
        replica, replicas = _replica_position()
        # One row per replica from the shared seed state; each replica keeps its own row.
        coins = keras.random.uniform((replicas, batch_size), seed=self.seed_generator)
        slots = keras.random.randint(
            (replicas, batch_size), minval=0, maxval=self.pool_size, dtype="int32", seed=self.seed_generator
        )
        return ops.take(coins, replica, axis=0), ops.take(slots, replica, axis=0)

    def call(self, images):
        if self.pool_size == 0:
            return images
        new_images = ops.cast(images, "float32")
        pool = self.images.value
        count = self.count.value
        batch_size = ops.shape(new_images)[0]
        positions = ops.arange(batch_size, dtype="int32")
        coins, random_slots = self._random_draws(batch_size)

        # The paper handles a batch one image at a time. The same decisions, vectorized: image i
        # fills the next free slot while there is one, otherwise it swaps with a random slot
        # with probability 0.5.
        filling = count + positions < self.pool_size
        swapping = ops.logical_and(ops.logical_not(filling), coins < 0.5)
        writes = ops.logical_or(filling, swapping)
        slots = ops.where(filling, count + positions, random_slots)

        # A slot can be hit twice in one batch. Sequentially, image i then sees what the last
        # EARLIER writer of its slot stored, or the old pool content if there was none.
        same_slot = ops.equal(slots[:, None], slots[None, :])
        written_by = ops.logical_and(same_slot, writes[None, :])
        earlier = ops.logical_and(written_by, positions[None, :] < positions[:, None])
        last_earlier_writer = ops.max(ops.where(earlier, positions[None, :], -1), axis=1)
        old_content = ops.take(pool, slots, axis=0)
        seen_content = _select(
            last_earlier_writer >= 0,
            ops.take(new_images, ops.maximum(last_earlier_writer, 0), axis=0),
            old_content,
        )
        outputs = _select(swapping, seen_content, new_images)

        # Each slot ends up holding its LAST writer's image. Every image scatters that final
        # value to its slot (non-writers rewrite the slot's final value, a no-op), so repeated
        # indices all carry the same update and the scatter's result does not depend on order.
        last_writer = ops.max(ops.where(written_by, positions[None, :], -1), axis=1)
        final_content = _select(
            last_writer >= 0, ops.take(new_images, ops.maximum(last_writer, 0), axis=0), old_content
        )
        # A distributed ON_READ variable offers assign but not scatter_update, hence a scatter
        # into a copy of the pool (39 MB at 50 x 256 x 256 x 3, cheap next to a step). Plain
        # assigns are also what a stateless JAX call records as the variable's new value.
        self.images.assign(ops.scatter_update(pool, slots[:, None], final_content))
        self.count.assign(ops.minimum(count + batch_size, self.pool_size))
        return ops.cast(outputs, images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "seed": self.seed}


def _select(condition, when_true, when_false):
    """Chooses whole images: `condition` has one entry per image of the batch."""
    return ops.where(condition[:, None, None, None], when_true, when_false)


def _replica_position():
    """This replica's index and the number of replicas: (0, 1) unless a TensorFlow strategy runs.

    Only TensorFlow's distribution strategies run one copy of the step per replica; a JAX step
    sees the whole batch as one array.
    """
    if keras.backend.backend() != "tensorflow":
        return 0, 1
    # Imported here so that the JAX backend never needs TensorFlow for the pool.
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync
