"""Loading the trained generator from a run directory, a .keras file or a weights file."""

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import spread_outputs
from conftest import tiny_run_config

from monet_gan.errors import UserError
from monet_gan.generation import trained_generator
from monet_gan.networks import discriminators
from monet_gan.networks import generators


def _assert_same_weights(model, expected):
    for actual, wanted in zip(model.get_weights(), expected.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, wanted)


def test_run_directory_prefers_the_ema_export_unless_told_not_to(run_dir):
    directory, live, ema = run_dir
    _assert_same_weights(trained_generator.load_generator(directory), ema)
    _assert_same_weights(trained_generator.load_generator(directory, use_ema=False), live)


def test_run_directory_without_export_restores_the_latest_checkpoint(tmp_path):
    config = tiny_run_config()
    config.to_json(str(tmp_path / "config.json"))
    trained = trained_generator.generator_from_config(str(tmp_path / "config.json"))
    spread_outputs(trained)
    other = generators.build_generator("resnet", image_size=64, filters=4, num_residual_blocks=1)
    checkpoint = tf.train.Checkpoint(photo_to_monet=trained, monet_to_photo=other,
                                     epoch=tf.Variable(3, dtype=tf.int64))
    tf.train.CheckpointManager(checkpoint, str(tmp_path / "checkpoints"), max_to_keep=2).save(3)
    _assert_same_weights(trained_generator.load_generator(str(tmp_path)), trained)


def test_weights_file_loads_with_the_config_beside_it(tmp_path):
    tiny_run_config().to_json(str(tmp_path / "config.json"))
    trained = trained_generator.generator_from_config(str(tmp_path / "config.json"))
    spread_outputs(trained)
    trained.save_weights(str(tmp_path / "generator.weights.h5"))
    _assert_same_weights(trained_generator.load_generator(str(tmp_path / "generator.weights.h5")), trained)
    os.remove(tmp_path / "config.json")
    with pytest.raises(UserError, match="config.json beside it"):
        trained_generator.load_generator(str(tmp_path / "generator.weights.h5"))


def test_a_discriminator_is_refused(tmp_path):
    path = str(tmp_path / "discriminator.keras")
    discriminators.build_discriminator(image_size=32, filters=4).save(path)
    with pytest.raises(UserError, match="not a photo->Monet generator"):
        trained_generator.load_generator(path)
