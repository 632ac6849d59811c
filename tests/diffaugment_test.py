"""DiffAugment: shapes, identity, gradients through each op, range, XLA, seeds, policy errors."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_strategy

from monet_gan.training.diffaugment import AUGMENTATIONS
from monet_gan.training.diffaugment import diff_augment


def random_images(batch_size=3, size=16, seed=0):
    """Images in [-1, 1] whose extremes are reached, so a range check is tight."""
    images = tf.random.stateless_uniform((batch_size, size, size, 3), seed=[seed, 1], minval=-1.0, maxval=1.0)
    return tf.tensor_scatter_nd_update(images, [[0, 0, 0, 0], [0, 0, 1, 0]], [-1.0, 1.0])


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_output_shape_and_dtype_preserved(policy, batch_size):
    images = random_images(batch_size)
    outputs = diff_augment(images, policy=policy, seed=1)
    assert outputs.shape == images.shape and outputs.dtype == images.dtype
    bfloat16_outputs = diff_augment(tf.cast(images, tf.bfloat16), policy=policy, seed=1)
    assert bfloat16_outputs.dtype == tf.bfloat16


def test_policy_empty_is_the_identity():
    images = random_images()
    assert diff_augment(images, policy="") is images
    assert diff_augment(images, policy=" , ") is images


def test_unknown_ops_are_named():
    with pytest.raises(ValueError, match="'blur'.*'rotate'.*color, translation, cutout"):
        diff_augment(random_images(), policy="color,blur,rotate")


@pytest.mark.parametrize("policy", AUGMENTATIONS)
def test_gradients_reach_an_upstream_variable_through_each_op(policy):
    scale = tf.Variable(0.5)
    images = random_images()
    with tf.GradientTape() as tape:
        outputs = diff_augment(images * scale, policy=policy, seed=2)
        loss = tf.reduce_sum(outputs * images)
    gradient = tape.gradient(loss, scale)
    assert gradient is not None and float(tf.abs(gradient)) > 0.0


@pytest.mark.parametrize("policy", ["translation", "cutout", "translation,cutout"])
def test_translation_and_cutout_preserve_the_range(policy):
    images = random_images(batch_size=8)
    for seed in range(5):
        outputs = diff_augment(images, policy=policy, seed=seed).numpy()
        assert outputs.min() >= -1.0 and outputs.max() <= 1.0
        # Every output value is an input value or the zero fill.
        assert np.isin(outputs, np.append(images.numpy(), 0.0)).all()


def test_translation_shifts_within_the_ratio_and_cutout_cuts_a_square():
    images = tf.ones((16, 16, 16, 1))
    shifted = diff_augment(images, policy="translation", translation_ratio=0.125, seed=3).numpy()
    # A shift of at most 2 pixels leaves the central 12 x 12 untouched.
    assert (shifted[:, 2:-2, 2:-2] == 1.0).all()
    assert (shifted == 0.0).any()
    cut = diff_augment(images, policy="cutout", cutout_ratio=0.5, seed=3).numpy()
    zeros_per_image = (cut == 0.0).sum(axis=(1, 2, 3))
    assert (zeros_per_image <= 64).all() and (zeros_per_image > 0).all()
    assert (zeros_per_image == 64).any()


def test_seed_makes_it_reproducible_and_images_differ_within_a_batch():
    images = random_images(batch_size=4)
    first = diff_augment(images, seed=5)
    np.testing.assert_array_equal(first, diff_augment(images, seed=5))
    np.testing.assert_array_equal(first, diff_augment(images, seed=tf.constant([5, 0])))
    assert not np.array_equal(first, diff_augment(images, seed=6))
    same_images = tf.repeat(images[:1], 4, axis=0)
    outputs = diff_augment(same_images, seed=5).numpy()
    assert not np.array_equal(outputs[0], outputs[1])


def test_runs_under_jit_compile_and_matches_the_traced_result():
    images = random_images()
    for seed in [None, 4]:
        augment = tf.function(lambda batch, seed=seed: diff_augment(batch, seed=seed), jit_compile=True)
        outputs = augment(images)
        assert outputs.shape == images.shape
    # With a seed, XLA draws the same numbers as the eager ops.
    np.testing.assert_allclose(outputs, diff_augment(images, seed=4), atol=1e-5)


def test_runs_per_replica_under_a_mirrored_strategy():
    strategy = two_cpu_strategy()
    dataset = tf.data.Dataset.from_tensor_slices(random_images(batch_size=4)).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(images):
        return strategy.run(lambda local: diff_augment(local, seed=[7, 0]), args=(images,))

    outputs = strategy.experimental_local_results(step(batch))
    assert [tuple(value.shape) for value in outputs] == [(2, 16, 16, 3), (2, 16, 16, 3)]
