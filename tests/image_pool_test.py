"""The image pool: the paper's algorithm, compiled and stateless, under MirroredStrategy, saved.

Backend-agnostic: also run under KERAS_BACKEND=jax, except the tf.function, MirroredStrategy
and tf.train.Checkpoint tests.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compiled
from conftest import tensorflow_only
from conftest import two_cpu_strategy
from keras import ops

from monet_gan.training.image_pool import ImagePool

pytestmark = pytest.mark.backend_agnostic

IMAGE_SHAPE = (4, 4, 3)


def tagged_images(first_tag, count):
    """Images whose every pixel is their tag, so an output image says which input it was."""
    tags = np.arange(first_tag, first_tag + count, dtype=np.float32)
    return ops.convert_to_tensor(np.broadcast_to(tags[:, None, None, None], (count, *IMAGE_SHAPE)).copy())


def tags_of(images):
    images = ops.convert_to_numpy(images)
    tags = images[:, 0, 0, 0]
    # Each returned image must be one whole stored or input image, not a blend.
    np.testing.assert_array_equal(images, np.broadcast_to(tags[:, None, None, None], images.shape))
    return tags


def make_pool(pool_size, seed=0):
    pool = ImagePool(pool_size, seed=seed, name="pool")
    pool.build((None, *IMAGE_SHAPE))
    return pool


def value_of(variable):
    return ops.convert_to_numpy(variable)


def sequential_reference(pool_tags, count, pool_size, batch_tags, coins, slots):
    """The paper's loop, one image at a time, on tags instead of images."""
    pool_tags, outputs = list(pool_tags), []
    for tag, coin, slot in zip(batch_tags, coins, slots):
        if count < pool_size:
            pool_tags[count] = tag
            count += 1
            outputs.append(tag)
        elif coin < 0.5:
            outputs.append(pool_tags[slot])
            pool_tags[slot] = tag
        else:
            outputs.append(tag)
    return pool_tags, count, outputs


def test_matches_the_sequential_algorithm_including_repeated_slots(monkeypatch):
    pool_size = 3
    pool = make_pool(pool_size)
    rng = np.random.default_rng(1)
    reference_pool, reference_count, next_tag = [0.0] * pool_size, 0, 1
    # Batches of 1, 2 and 5 (more than the free slots, and more than the pool) with few slots,
    # so the same slot is often drawn twice in one batch.
    for batch_size in [1, 2, 5, 5, 1, 4, 5]:
        coins = rng.uniform(size=batch_size).astype(np.float32)
        slots = rng.integers(0, pool_size, size=batch_size).astype(np.int32)
        monkeypatch.setattr(pool, "_random_draws", lambda _, c=coins, s=slots: (ops.convert_to_tensor(c), ops.convert_to_tensor(s)))
        batch_tags = list(range(next_tag, next_tag + batch_size))
        next_tag += batch_size
        outputs = pool(tagged_images(batch_tags[0], batch_size))
        reference_pool, reference_count, expected = sequential_reference(
            reference_pool, reference_count, pool_size, batch_tags, coins, slots
        )
        assert outputs.shape == (batch_size, *IMAGE_SHAPE)
        assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
        np.testing.assert_array_equal(tags_of(outputs), expected)
        np.testing.assert_array_equal(tags_of(value_of(pool.images)), reference_pool)
        assert int(value_of(pool.count)) == reference_count


def test_fills_up_then_returns_a_mix_of_inputs_and_stored_fakes():
    pool = make_pool(4, seed=3)
    seen, returned_stored, returned_new = set(), 0, 0
    for step in range(12):
        tags = [2 * step + 1, 2 * step + 2]
        outputs = tags_of(pool(tagged_images(tags[0], 2)))
        if step < 2:
            np.testing.assert_array_equal(outputs, tags)
        else:
            for position, tag in enumerate(outputs):
                assert tag == tags[position] or tag in seen or tag in tags[:position]
                returned_stored += tag != tags[position]
                returned_new += tag == tags[position]
        seen.update(tags)
        assert int(value_of(pool.count)) == min(2 * (step + 1), 4)
    assert returned_stored > 0 and returned_new > 0


def test_same_seed_gives_the_same_choices():
    results = []
    for _ in range(2):
        pool = make_pool(2, seed=7)
        results.append([tags_of(pool(tagged_images(tag, 1))) for tag in range(1, 10)])
    np.testing.assert_array_equal(results[0], results[1])


def test_returns_the_input_dtype_and_stores_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        pool = make_pool(2)
        outputs = pool(ops.cast(tagged_images(1, 2), "bfloat16"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    assert pool.images.dtype == "float32"
    np.testing.assert_array_equal(tags_of(value_of(pool.images)), [1, 2])


def test_pool_size_zero_is_the_identity():
    pool = make_pool(0)
    images = tagged_images(1, 3)
    assert pool(images) is images
    assert pool.weights == [] and pool.variables == []


def test_bad_pool_size_is_a_value_error():
    with pytest.raises(ValueError, match="-1"):
        ImagePool(-1)


def test_works_in_a_compiled_stateless_step_as_a_jax_train_step_runs_it():
    # A jitted JAX step cannot assign variables: it passes the pool's state in, gets the new
    # state back from stateless_call and threads it into the next step. The pool then behaves
    # exactly as the same pool called eagerly.
    stateless, eager = make_pool(3, seed=4), make_pool(3, seed=4)
    assert len(stateless.non_trainable_variables) == 3  # images, count, seed generator state

    def stateless_step(state, images):
        return stateless.stateless_call([], state, images)

    step = compiled(stateless_step, jit_compile=False)

    state = [variable.value for variable in stateless.non_trainable_variables]
    for tag in range(1, 20, 2):
        outputs, state = step(state, tagged_images(tag, 2))
        np.testing.assert_array_equal(tags_of(outputs), tags_of(eager(tagged_images(tag, 2))))
    # Nothing was assigned during the steps; writing the threaded state back gives the pool
    # the eager pool's history and random stream.
    assert int(value_of(stateless.count)) == 0
    for variable, value in zip(stateless.non_trainable_variables, state):
        variable.assign(value)
    for mine, theirs in zip(stateless.non_trainable_variables, eager.non_trainable_variables):
        np.testing.assert_array_equal(value_of(mine), value_of(theirs))
    np.testing.assert_array_equal(stateless(tagged_images(50, 2)), eager(tagged_images(50, 2)))


@tensorflow_only
def test_works_inside_a_traced_function():
    pool = make_pool(3)
    step = tf.function(pool, jit_compile=False)
    for tag in range(1, 20, 2):
        outputs = tags_of(step(tagged_images(tag, 2)))
        assert set(outputs) <= set(range(1, tag + 2))
    assert int(value_of(pool.count)) == 3
    # Two draws per call (coins and slots) advance the seed state by two.
    assert int(value_of(pool.seed_generator.state)[1]) == 20


@tensorflow_only
def test_each_replica_of_a_mirrored_strategy_keeps_its_own_pool(tmp_path):
    strategy = two_cpu_strategy()
    with strategy.scope():
        pool = make_pool(2)

    @tf.function(jit_compile=False)
    def step(tag):
        def replica_step():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            # Replica 0 sees tags around 100 + tag, replica 1 around 200 + tag.
            base = tf.cast(100 * (replica + 1), tf.float32) + tag
            return pool(base + tf.zeros((1, *IMAGE_SHAPE)))

        return strategy.run(replica_step)

    for tag in range(6):
        outputs = [tags_of(value) for value in strategy.experimental_local_results(step(float(tag)))]
        assert 100 <= outputs[0][0] < 200 and 200 <= outputs[1][0] < 300
    local_pools = [tags_of(value) for value in strategy.experimental_local_results(pool.images.value)]
    assert all(100 <= tag < 200 for tag in local_pools[0])
    assert all(200 <= tag < 300 for tag in local_pools[1])
    assert [int(v) for v in strategy.experimental_local_results(pool.count.value)] == [2, 2]

    # A checkpoint of the mirrored pool holds the first replica's history.
    path = tf.train.Checkpoint(pool=pool).save(str(tmp_path / "mirrored"))
    restored = make_pool(2)
    tf.train.Checkpoint(pool=restored).restore(path).assert_consumed()
    np.testing.assert_array_equal(tags_of(value_of(restored.images)), local_pools[0])
    # Restoring into a mirrored pool gives every replica that history.
    with strategy.scope():
        mirrored = make_pool(2)
    tf.train.Checkpoint(pool=mirrored).restore(path).assert_consumed()
    for value in strategy.experimental_local_results(mirrored.images.value):
        np.testing.assert_array_equal(tags_of(value), local_pools[0])


def test_keras_weights_file_round_trip_continues_the_random_stream(tmp_path):
    # The format a backend-agnostic run saves: Keras' .weights.h5, with the seed state in it.
    inputs = keras.Input(IMAGE_SHAPE, name="images")
    model = keras.Model(inputs, ImagePool(3, seed=5, name="pool")(inputs), name="pooled")
    twin = keras.Model(inputs, ImagePool(3, seed=6, name="pool")(inputs), name="pooled")
    for tag in range(1, 8, 2):
        model(tagged_images(tag, 2))
    path = str(tmp_path / "pool.weights.h5")
    model.save_weights(path)
    twin.load_weights(path)
    for mine, theirs in zip(model.non_trainable_variables, twin.non_trainable_variables):
        np.testing.assert_array_equal(value_of(mine), value_of(theirs))
    np.testing.assert_array_equal(model(tagged_images(50, 2)), twin(tagged_images(50, 2)))


@tensorflow_only
def test_checkpoint_round_trip(tmp_path):
    pool = make_pool(3, seed=5)
    for tag in range(1, 8, 2):
        pool(tagged_images(tag, 2))
    path = tf.train.Checkpoint(pool=pool).save(str(tmp_path / "pool"))
    restored = make_pool(3, seed=5)
    tf.train.Checkpoint(pool=restored).restore(path).assert_consumed()
    np.testing.assert_array_equal(value_of(restored.images), value_of(pool.images))
    assert int(value_of(restored.count)) == int(value_of(pool.count)) == 3
    np.testing.assert_array_equal(value_of(restored.seed_generator.state), value_of(pool.seed_generator.state))
    # The random stream continues where it was, so both pools now make the same choices.
    np.testing.assert_array_equal(pool(tagged_images(50, 2)), restored(tagged_images(50, 2)))
