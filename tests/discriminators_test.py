"""PatchGAN discriminator: patch-map shapes, float32 logits, names, checks, parameter count.

Backend-agnostic: also run under KERAS_BACKEND=jax.
"""

import re

import keras
import numpy as np
import pytest

from monet_gan.networks import discriminators

AUTO_NAME = re.compile(
    r"^(input_layer|conv2d|instance_normalization|zero_padding2d|leaky_re_lu|activation)"
    r"(_\d+)?$"
)

pytestmark = pytest.mark.backend_agnostic


def images(count, size, seed=0):
    shape = (count, size, size, 3)
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype("float32")


@pytest.mark.parametrize("image_size, filters, patches", [(32, 4, 2), (64, 8, 6)])
def test_output_is_a_float32_patch_map(image_size, filters, patches):
    model = discriminators.build_discriminator(image_size, filters, name="d")
    assert model.name == "d"
    assert model.input_shape == (None, image_size, image_size, 3)
    assert model.output_shape == (None, patches, patches, 1)
    logits = model(images(2, image_size))
    assert logits.dtype == "float32"
    assert logits.shape == (2, patches, patches, 1)
    assert np.all(np.isfinite(logits))


def test_every_layer_has_a_meaningful_name():
    model = discriminators.build_discriminator(32, 4)
    names = [layer.name for layer in model.layers]
    assert not [name for name in names if AUTO_NAME.match(name)]
    # Instance norm after every block but the first, as in the tutorial.
    norms = [name for name in names if name.endswith("_norm")]
    assert norms == ["down_2_norm", "down_3_norm", "features_norm"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(image_size=24), "image_size=24"),
        (dict(image_size=36), "image_size=36"),
        (dict(image_size=0), "image_size=0"),
        (dict(image_size="256"), "image_size='256'"),
        (dict(filters=0), "filters=0"),
        (dict(name=""), "name=''"),
    ],
)
def test_bad_arguments_raise_value_error_echoing_the_value(arguments, message):
    with pytest.raises(ValueError, match=message):
        discriminators.build_discriminator(**arguments)


def test_tutorial_output_shape_and_parameter_count_at_256_pixels():
    model = discriminators.build_discriminator(256, 64)
    assert model.output_shape == (None, 30, 30, 1)
    # Kaggle's Monet CycleGAN tutorial reports 2,765,569. (2,769,601 is pix2pix's PyTorch
    # discriminator, which takes 6 input channels and uses batch norm and conv biases.)
    assert model.count_params() == 2_765_569


def test_mixed_bfloat16_logits_stay_float32():
    previous_policy = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = discriminators.build_discriminator(32, 4)
        logits = model(images(1, 32))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    assert model.get_layer("down_2_conv").compute_dtype == "bfloat16"
    assert logits.dtype == "float32"
