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


def test_a_run_directory_paints_with_its_best_export_first_and_any_on_request(run_dir, tmp_path, capsys):
    directory, live, ema = run_dir
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("config.json", "photo_to_monet.keras", "photo_to_monet_ema.keras"):
        (copy / name).write_bytes(open(os.path.join(directory, name), "rb").read())
    with pytest.raises(UserError, match="no photo_to_monet_best.keras for --generator best; present: ema, last"):
        trained_generator.load_generator(str(copy), choice="best")
    (copy / "photo_to_monet_best.keras").write_bytes((copy / "photo_to_monet.keras").read_bytes())
    _assert_same_weights(trained_generator.load_generator(str(copy)), live)
    assert "photo_to_monet_best.keras (best: the epoch with the lowest KID)" in capsys.readouterr().out
    _assert_same_weights(trained_generator.load_generator(str(copy), choice="ema"), ema)
    _assert_same_weights(trained_generator.load_generator(str(copy), choice="last"), live)
    _assert_same_weights(trained_generator.load_generator(str(copy), use_ema=False), live)
    with pytest.raises(ValueError, match="choice='first'"):
        trained_generator.load_generator(str(copy), choice="first")
    with pytest.raises(UserError, match="needs a run directory"):
        trained_generator.load_generator(str(copy / "photo_to_monet.keras"), choice="ema")
