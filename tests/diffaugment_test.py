"""DiffAugment: shapes, identity, the colour formulas, gradients, range, XLA, seeds, policy errors.

Backend-agnostic: also run under KERAS_BACKEND=jax, except the MirroredStrategy test.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compiled
from conftest import input_gradient
from conftest import tensorflow_only
from conftest import two_cpu_strategy
from keras import ops

from monet_gan.training import diffaugment
from monet_gan.training.diffaugment import AUGMENTATIONS
from monet_gan.training.diffaugment import diff_augment

pytestmark = pytest.mark.backend_agnostic


def random_images(batch_size=3, size=16, seed=0):
    """Images in [-1, 1] whose extremes are reached, so a range check is tight."""
    images = np.random.default_rng(seed).uniform(-1.0, 1.0, (batch_size, size, size, 3)).astype("float32")
    images[0, 0, 0, 0], images[0, 0, 1, 0] = -1.0, 1.0
    return images


def numpy_of(tensor):
    return ops.convert_to_numpy(tensor)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_output_shape_and_dtype_preserved(policy, batch_size):
    images = ops.convert_to_tensor(random_images(batch_size))
    outputs = diff_augment(images, policy=policy, seed=1)
    assert outputs.shape == images.shape and outputs.dtype == images.dtype
    bfloat16_outputs = diff_augment(ops.cast(images, "bfloat16"), policy=policy, seed=1)
    assert keras.backend.standardize_dtype(bfloat16_outputs.dtype) == "bfloat16"


def test_policy_empty_is_the_identity():
    images = random_images()
    assert diff_augment(images, policy="") is images
    assert diff_augment(images, policy=" , ") is images


def test_unknown_ops_are_named():
    with pytest.raises(ValueError, match="'blur'.*'rotate'.*color, translation, cutout"):
        diff_augment(random_images(), policy="color,blur,rotate")


@pytest.mark.parametrize("seed", [1.5, "3", True, [5, 0]])
def test_bad_seed_is_named(seed):
    with pytest.raises(ValueError, match="seed must be None, an int or a keras.random.SeedGenerator"):
        diff_augment(random_images(), policy="color", seed=seed)


class ScriptedDraws:
    """Stands in for the random draws: hands out the given per-image values, in order."""

    def __init__(self, values):
        self.values = [np.asarray(value, dtype="float32").reshape(-1, 1, 1, 1) for value in values]

    def uniform(self, shape, minval=0.0, maxval=1.0):
        return ops.convert_to_tensor(self.values.pop(0))


def reference_color(x, brightness_draw, saturation_draw, contrast_draw):
    """Zhao et al.'s rand_brightness, rand_saturation, rand_contrast, in float64 numpy."""
    x = x.astype(np.float64)
    x = x + (brightness_draw - 0.5)
    channel_mean = x.mean(axis=3, keepdims=True)
    x = (x - channel_mean) * (saturation_draw * 2) + channel_mean
    image_mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - image_mean) * (contrast_draw + 0.5) + image_mean


def test_color_follows_the_reference_formulas(monkeypatch):
    images = random_images(batch_size=4, size=8, seed=3)
    draws = [np.array([0.0, 0.25, 0.9, 0.5]), np.array([0.1, 0.5, 0.99, 0.0]), np.array([0.3, 0.5, 0.0, 0.99])]
    monkeypatch.setattr(diffaugment, "_RandomDraws", lambda seed, count: ScriptedDraws(draws))
    outputs = numpy_of(diff_augment(images, policy="color", seed=0))
    expected = reference_color(images, *(draw.reshape(-1, 1, 1, 1) for draw in draws))
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
    # Image 1 draws the neutral saturation (x1) and contrast (x1): only the brightness moves it.
    np.testing.assert_allclose(outputs[1] - images[1], -0.25, atol=1e-6)


def test_color_draws_stay_in_their_ranges():
    # A spatially constant image: brightness adds b in [-0.5, 0.5); saturation and contrast
    # scale each channel's distance from the pixel's mean by s in [0, 2) and c in [0.5, 1.5).
    colours = np.array([-0.6, 0.1, 0.5], dtype="float32")
    images = np.broadcast_to(colours, (256, 4, 4, 3)).copy()
    outputs = numpy_of(diff_augment(images, policy="color", seed=11)).astype(np.float64)
    assert np.allclose(outputs, outputs[:, :1, :1, :], atol=1e-5)
    pixel = outputs[:, 0, 0, :]
    brightness = pixel.mean(axis=1) - colours.mean()
    assert brightness.min() >= -0.5 - 1e-5 and brightness.max() < 0.5 + 1e-5
    assert brightness.min() < -0.4 and brightness.max() > 0.4
    scale = (pixel[:, 0] - pixel.mean(axis=1)) / (colours[0] - colours.mean())
    assert scale.min() >= -1e-5 and scale.max() < 3.0
    # The product of saturation and contrast covers most of [0, 3).
    assert scale.min() < 0.1 and scale.max() > 2.0


@pytest.mark.parametrize("policy", AUGMENTATIONS)
def test_gradients_reach_the_input_through_each_op(policy):
    images = random_images()
    gradient = input_gradient(lambda x: diff_augment(x * 0.5, policy=policy, seed=2), images, images)
    assert np.isfinite(gradient).all() and np.abs(gradient).sum() > 0.0


@pytest.mark.parametrize("policy", ["translation", "cutout", "translation,cutout"])
def test_translation_and_cutout_preserve_the_range(policy):
    images = random_images(batch_size=8)
    for seed in range(5):
        outputs = numpy_of(diff_augment(images, policy=policy, seed=seed))
        assert outputs.min() >= -1.0 and outputs.max() <= 1.0
        # Every output value is an input value or the zero fill.
        assert np.isin(outputs, np.append(images, 0.0)).all()


def test_translation_shifts_within_the_ratio_and_cutout_cuts_a_square():
    images = np.ones((16, 16, 16, 1), dtype="float32")
    shifted = numpy_of(diff_augment(images, policy="translation", translation_ratio=0.125, seed=3))
    # A shift of at most 2 pixels leaves the central 12 x 12 untouched.
    assert (shifted[:, 2:-2, 2:-2] == 1.0).all()
    assert (shifted == 0.0).any()
    cut = numpy_of(diff_augment(images, policy="cutout", cutout_ratio=0.5, seed=3))
    zeros_per_image = (cut == 0.0).sum(axis=(1, 2, 3))
    assert (zeros_per_image <= 64).all() and (zeros_per_image > 0).all()
    assert (zeros_per_image == 64).any()


def test_int_seed_is_reproducible_and_images_differ_within_a_batch():
    images = random_images(batch_size=4)
    first = numpy_of(diff_augment(images, seed=5))
    np.testing.assert_array_equal(first, numpy_of(diff_augment(images, seed=5)))
    assert not np.array_equal(first, numpy_of(diff_augment(images, seed=6)))
    same_images = np.repeat(images[:1], 4, axis=0)
    outputs = numpy_of(diff_augment(same_images, seed=5))
    assert not np.array_equal(outputs[0], outputs[1])


def test_seed_generator_advances_and_replays_from_the_same_seed():
    images = random_images(batch_size=2)
    runs = []
    for _ in range(2):
        generator = keras.random.SeedGenerator(9)
        runs.append([numpy_of(diff_augment(images, seed=generator)) for _ in range(2)])
    # Each call draws anew; the same seed gives the same sequence of augmentations.
    assert not np.array_equal(runs[0][0], runs[0][1])
    np.testing.assert_array_equal(runs[0], runs[1])


def test_runs_compiled_and_reproducibly():
    images = random_images()
    augment = compiled(lambda batch: diff_augment(batch, seed=4))
    outputs = numpy_of(augment(images))
    assert outputs.shape == images.shape
    np.testing.assert_array_equal(outputs, numpy_of(augment(images)))
    if keras.backend.backend() == "jax":
        # JAX draws the same numbers compiled or not. TensorFlow's stateless ops, as Keras
        # calls them, pick another generator under XLA, so there only compiled runs agree.
        np.testing.assert_allclose(outputs, numpy_of(diff_augment(images, seed=4)), atol=1e-5)


@tensorflow_only
def test_runs_per_replica_under_a_mirrored_strategy():
    strategy = two_cpu_strategy()
    dataset = tf.data.Dataset.from_tensor_slices(random_images(batch_size=4)).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    with strategy.scope():
        generator = keras.random.SeedGenerator(7)

    @tf.function
    def step(images):
        return strategy.run(lambda local: diff_augment(local, seed=generator), args=(images,))

    outputs = strategy.experimental_local_results(step(batch))
    assert [tuple(value.shape) for value in outputs] == [(2, 16, 16, 3), (2, 16, 16, 3)]
