"""The step-memory estimate, computed from the networks' layer outputs."""

import keras
import pytest

from monet_gan.training import config as config_lib
from monet_gan.training import memory

GIB = 1024**3


def test_activations_are_the_sum_of_layer_outputs():
    inputs = keras.Input((8, 8, 3), name="input")
    outputs = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, outputs, name="tiny")
    assert memory.activation_bytes_per_image(model) == (8 * 8 * 3 + 8 * 8 * 4) * 4


def test_small_networks_scale_with_batch_and_halve_in_float16():
    config = config_lib.TrainConfig.smoke(image_size=32)
    one = memory.estimate_step_memory(config, 1)
    four = memory.estimate_step_memory(config, 4)
    assert four["activations"] == 4 * one["activations"]
    assert four["gradients"] == one["gradients"] == 4 * one["weight_count"]
    assert one["optimizer_slots"] > 2 * one["gradients"]  # Adam's two slots and the EMA copy.
    half = memory.estimate_step_memory(config, 4, "mixed_float16")
    assert half["activations"] < 0.6 * four["activations"]
    assert memory.estimate_step_memory(config, 1, ema=False)["optimizer_slots"] == 2 * one["gradients"]
    assert memory.format_estimate(one).startswith("total ")


def test_the_recipe_at_256_px_against_the_published_figures():
    # The paper's networks: 11.4 M weights per ResNet-9 generator, 2.8 M per PatchGAN.
    recipe = config_lib.TrainConfig()
    single = memory.estimate_step_memory(recipe, 1)
    assert 28.0e6 < single["weight_count"] < 28.6e6
    # One image in float32 needs gigabytes, as the PyTorch reference's "more than 4 GB" says;
    # PyTorch also keeps both directions' passes at once and a CUDA context, hence its more.
    assert 2.0 * GIB < single["total"] < 3.0 * GIB
    # Kaggle's T4 (15 GB): 4 images per GPU in mixed_float16 fit with room to spare, 8 do not.
    assert memory.largest_batch_per_replica(recipe, 15 * GIB, "mixed_float16") == 4
    assert memory.largest_batch_per_replica(recipe, 15 * GIB, "float32") == 2
    assert memory.largest_batch_per_replica(recipe, 1 * GIB, "float32") is None


def test_arguments_are_checked():
    config = config_lib.TrainConfig.smoke()
    with pytest.raises(ValueError, match="batch_per_replica .* got 0"):
        memory.estimate_step_memory(config, 0)
    with pytest.raises(ValueError, match="'float8'"):
        memory.estimate_step_memory(config, 1, "float8")
    with pytest.raises(ValueError, match="device_bytes .* got 0"):
        memory.largest_batch_per_replica(config, 0, "float32")
