"""Generators: shapes, dtypes, names, argument checks, saving and the known parameter counts.

Backend-agnostic: also run under KERAS_BACKEND=jax.
"""

import re

import keras
import numpy as np
import pytest

from monet_gan.networks import generators
from monet_gan.networks import layers

# Names Keras invents for unnamed layers, such as "conv2d_3" or "instance_normalization".
AUTO_NAME = re.compile(
    r"^(input_layer|conv2d|conv2d_transpose|instance_normalization|group_normalization|"
    r"reflection_padding2d|zero_padding2d|leaky_re_lu|re_lu|dropout|concatenate|add|"
    r"activation|functional|sequential)(_\d+)?$"
)

pytestmark = pytest.mark.backend_agnostic


def images(count, size, seed=0):
    shape = (count, size, size, 3)
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype("float32")


@pytest.mark.parametrize(
    "architecture, image_size, filters",
    [("unet", 32, 8), ("unet", 64, 4), ("resnet", 32, 4), ("resnet", 64, 4)],
)
def test_output_shape_dtype_and_range(architecture, image_size, filters):
    model = generators.build_generator(
        architecture, image_size=image_size, filters=filters, num_residual_blocks=2, name="g"
    )
    assert model.name == "g"
    assert model.input_shape == (None, image_size, image_size, 3)
    assert model.output_shape == (None, image_size, image_size, 3)
    # Large inputs push the pre-activations far out, so tanh's bounds are really exercised.
    outputs = model(images(2, image_size) * 50, training=False)
    assert outputs.dtype == "float32"
    assert outputs.shape == (2, image_size, image_size, 3)
    outputs = np.asarray(outputs)
    assert np.all(np.abs(outputs) <= 1.0) and np.all(np.isfinite(outputs))


@pytest.mark.parametrize("architecture", ["unet", "resnet"])
def test_every_layer_has_a_meaningful_name(architecture):
    model = generators.build_generator(
        architecture, image_size=32, filters=4, num_residual_blocks=2
    )
    names = [layer.name for layer in model.layers]
    assert not [name for name in names if AUTO_NAME.match(name)]
    expected = {
        "unet": ["input_image", "down_1_conv", "down_3_norm", "up_1_dropout", "up_4_concat",
                 "output_conv", "output_tanh"],
        "resnet": ["stem_pad", "stem_conv", "down_2_norm", "res_2_norm_1", "res_2_add",
                   "up_2_conv", "output_pad", "output_tanh"],
    }[architecture]
    assert set(expected) <= set(names)


def test_unet_structure_and_dropout():
    model = generators.unet_generator(image_size=32, filters=4, dropout_rate=0.5)
    # log2(32) = 5 downsamplings to 1x1; the first has no normalization.
    assert model.get_layer("down_5_leaky_relu").output.shape == (None, 1, 1, 32)
    assert "down_1_norm" not in [layer.name for layer in model.layers]
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.name for layer in dropouts] == ["up_1_dropout", "up_2_dropout", "up_3_dropout"]
    assert all(layer.rate == 0.5 for layer in dropouts)
    without = generators.unet_generator(image_size=32, filters=4, dropout_rate=0)
    assert not [layer for layer in without.layers if isinstance(layer, keras.layers.Dropout)]


def test_resnet_residual_block_count():
    model = generators.resnet_generator(image_size=32, filters=4, num_residual_blocks=3)
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert adds == ["res_1_add", "res_2_add", "res_3_add"]
    assert model.get_layer("res_1_add").output.shape == (None, 8, 8, 16)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(architecture="vgg"), r"'vgg'.*'unet', 'resnet'"),
        (dict(architecture="unet", image_size=48), "image_size=48"),
        (dict(architecture="unet", image_size=4), "image_size=4"),
        (dict(architecture="unet", image_size="256"), "image_size='256'"),
        (dict(architecture="resnet", image_size=30), "image_size=30"),
        (dict(architecture="resnet", image_size=0), "image_size=0"),
        (dict(architecture="unet", filters=0), "filters=0"),
        (dict(architecture="resnet", filters=2.5), "filters=2.5"),
        (dict(architecture="resnet", num_residual_blocks=0), "num_residual_blocks=0"),
        (dict(architecture="unet", dropout_rate=1.0), "dropout_rate=1.0"),
        (dict(architecture="unet", dropout_rate=-0.1), "dropout_rate=-0.1"),
        (dict(architecture="unet", name=""), "name=''"),
    ],
)
def test_bad_arguments_raise_value_error_echoing_the_value(arguments, message):
    with pytest.raises(ValueError, match=message):
        generators.build_generator(**arguments)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the count depends on the architecture only; building 54 M weights again under JAX costs a minute",
)
def test_parameter_counts_at_256_pixels():
    # Kaggle's Monet CycleGAN tutorial reports 54,414,979 for its U-Net generator.
    assert generators.build_generator("unet").count_params() == 54_414_979
    # The CycleGAN paper's ResNet-9 generator; PyTorch's version has 11,378,179 because it
    # keeps conv biases and uses instance norm without gamma/beta (+C and -C per norm layer).
    assert generators.build_generator("resnet").count_params() == 11_383_427
    assert generators.build_generator("resnet", num_residual_blocks=6).count_params() == 7_841_411


@pytest.mark.parametrize("architecture", ["unet", "resnet"])
def test_keras_file_round_trip(tmp_path, architecture):
    model = generators.build_generator(
        architecture, image_size=32, filters=4, num_residual_blocks=1
    )
    path = tmp_path / "generator.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = images(2, 32, seed=1)
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))


@pytest.mark.parametrize("architecture", ["unet", "resnet"])
def test_mixed_bfloat16_output_stays_float32(architecture):
    previous_policy = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = generators.build_generator(
            architecture, image_size=32, filters=4, num_residual_blocks=1
        )
        outputs = model(images(1, 32), training=False)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    norm = next(layer for layer in model.layers if isinstance(layer, layers.InstanceNormalization))
    assert norm.compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"
    assert outputs.dtype == "float32"
