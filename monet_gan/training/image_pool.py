"""A history of past fakes shown to a discriminator (Shrivastava et al., 2017; CycleGAN paper).

The discriminator is updated on a mix of the generator's newest fakes and fakes it made
earlier, so it does not chase only the latest output and the two networks oscillate less.
For each image of a batch: while the pool is not full, store it and return it; once full, with
probability 0.5 return a randomly chosen stored image and put the new one in its place,
otherwise return the new image. A pool of size 0 returns its input.

Design for distribution strategies: every variable is created with
synchronization=ON_READ and aggregation=ONLY_FIRST_REPLICA, so each replica keeps its OWN pool
of the fakes from its own share of the batch. This is the paper's algorithm run per replica;
the replicas never need to agree on a shared state inside the step (no cross-device traffic),
and an assignment in replica context just updates the local copy, which MirroredStrategy and
TPUStrategy both allow. A shared MirroredVariable pool would instead keep only the first
replica's writes (ONLY_FIRST_REPLICA) and silently drop the others' fakes. Outside replica
context (a checkpoint save, `.numpy()`), reading gives the first replica's pool; restoring a
checkpoint writes that pool to every replica, so a resumed run starts each replica with a
full, valid history. Without a strategy the variables are ordinary ones.

The state lives in the graph: `images` (pool_size, H, W, C) float32, `count` (how many slots
are filled) and `calls` (a step counter that drives the stateless random draws). All three are
checkpointed, so a resumed run continues with the same pool and the same random stream.
"""

import random

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="monet_gan")
class ImagePool(keras.layers.Layer):
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
        self.calls = self._state_variable((), "int32", "calls")

    def _random_draws(self, batch_size):
        """Per-image uniform numbers in [0, 1) and pool slots, different on every call and replica.

        Philox is named because "auto_select" may pick another generator under XLA, and a run
        resumed on another device should continue the same random stream.
        """
        calls = self.calls.value
        self.calls.assign(calls + 1)
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(calls, tf.int64)])
        context = tf.distribute.get_replica_context()
        if context is not None:
            replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
            seed = tf.random.experimental.stateless_fold_in(seed, replica, alg="philox")
        coin_seed, slot_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2, alg="philox"))
        coins = tf.random.stateless_uniform([batch_size], seed=coin_seed, alg="philox")
        slots = tf.random.stateless_uniform(
            [batch_size], seed=slot_seed, minval=0, maxval=self.pool_size, dtype=tf.int32, alg="philox"
        )
        return coins, slots

    def call(self, images):
        if self.pool_size == 0:
            return images
        new_images = tf.cast(images, tf.float32)
        pool = self.images.value
        count = self.count.value
        batch_size = tf.shape(new_images)[0]
        positions = tf.range(batch_size)
        coins, random_slots = self._random_draws(batch_size)

        # The paper handles a batch one image at a time. The same decisions, vectorized: image i
        # fills the next free slot while there is one, otherwise it swaps with a random slot
        # with probability 0.5.
        filling = count + positions < self.pool_size
        swapping = tf.logical_and(tf.logical_not(filling), coins < 0.5)
        writes = tf.logical_or(filling, swapping)
        slots = tf.where(filling, count + positions, random_slots)

        # A slot can be hit twice in one batch. Sequentially, image i then sees what the last
        # EARLIER writer of its slot stored, or the old pool content if there was none.
        same_slot = tf.equal(slots[:, tf.newaxis], slots[tf.newaxis, :])
        written_by = tf.logical_and(same_slot, writes[tf.newaxis, :])
        earlier = tf.logical_and(written_by, positions[tf.newaxis, :] < positions[:, tf.newaxis])
        last_earlier_writer = tf.reduce_max(tf.where(earlier, positions[tf.newaxis, :], -1), axis=1)
        old_content = tf.gather(pool, slots)
        seen_content = _select(
            last_earlier_writer >= 0, tf.gather(new_images, tf.maximum(last_earlier_writer, 0)), old_content
        )
        outputs = _select(swapping, seen_content, new_images)

        # Each slot ends up holding its LAST writer's image. Every image scatters that final
        # value to its slot (non-writers rewrite the slot's final value, a no-op), so repeated
        # indices all carry the same update and the scatter's result does not depend on order.
        last_writer = tf.reduce_max(tf.where(written_by, positions[tf.newaxis, :], -1), axis=1)
        final_content = _select(
            last_writer >= 0, tf.gather(new_images, tf.maximum(last_writer, 0)), old_content
        )
        # A distributed ON_READ variable offers assign but not scatter_nd_update, hence a
        # scatter into a copy of the pool (39 MB at 50 x 256 x 256 x 3, cheap next to a step).
        self.images.assign(tf.tensor_scatter_nd_update(pool, slots[:, tf.newaxis], final_content))
        self.count.assign(tf.minimum(count + batch_size, self.pool_size))
        return tf.cast(outputs, images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "seed": self.seed}


def _select(condition, when_true, when_false):
    """Chooses whole images: `condition` has one entry per image of the batch."""
    return tf.where(condition[:, tf.newaxis, tf.newaxis, tf.newaxis], when_true, when_false)
