"""Backend-neutral checkpoints: a round trip restores every variable; other backends' runs are refused."""

import keras
import numpy as np
import pytest

from monet_gan.errors import UserError
from monet_gan.training import checkpoints
from monet_gan.training import config as config_lib
from monet_gan.training import cyclegan


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(variable.value)) for variable in variables]


def test_round_trip_restores_weights_optimizers_pools_schedule_and_epoch(tmp_path):
    keras.utils.set_random_seed(0)
    config = config_lib.TrainConfig.smoke(pool_size=2)
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=7)
    random = np.random.default_rng(0)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    model.train_step(tuple(random.uniform(-1, 1, shape).astype("float32") for _ in range(2)))
    epoch = keras.Variable(3, dtype="int32", trainable=False, name="epoch")
    manager = checkpoints.ArrayCheckpointManager(model, epoch, str(tmp_path), max_to_keep=2)
    variables = checkpoints.run_variables(model, epoch)
    saved = _values(variables)
    for number in (1, 2, 3):
        manager.save(checkpoint_number=number)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-2.npz", "ckpt-3.npz"]
    assert manager.latest_checkpoint.endswith("ckpt-3.npz")

    model.train_step(tuple(random.uniform(-1, 1, shape).astype("float32") for _ in range(2)))
    model.set_schedule_length(99)
    epoch.assign(0)
    assert any(not np.array_equal(a, b) for a, b in zip(saved, _values(variables)))
    manager.restore()
    for before, after in zip(saved, _values(variables)):
        np.testing.assert_array_equal(before, after)
    assert int(epoch.numpy()) == 3 and int(model.schedule_steps["total_steps"].numpy()) == 7
    assert int(model.optimizers["photo_to_monet"].iterations.numpy()) == 1


def test_a_checkpoint_of_another_architecture_is_one_user_error(tmp_path):
    epoch = keras.Variable(0, dtype="int32", trainable=False, name="epoch")
    small = cyclegan.CycleGAN(config_lib.TrainConfig.smoke())
    small.compile(total_steps=4)
    checkpoints.ArrayCheckpointManager(small, epoch, str(tmp_path)).save(1)
    other = cyclegan.CycleGAN(config_lib.TrainConfig.smoke(generator_filters=4))
    other.compile(total_steps=4)
    with pytest.raises(UserError, match="does not fit this model"):
        checkpoints.ArrayCheckpointManager(other, epoch, str(tmp_path)).restore()


def test_resuming_under_the_other_backend_is_refused(tmp_path):
    (tmp_path / "ckpt-1.index").write_text("")
    checkpoints.check_backend(str(tmp_path), "tensorflow")
    with pytest.raises(UserError, match="trained under the tensorflow backend and cannot resume under jax"):
        checkpoints.check_backend(str(tmp_path), "jax")
    other = tmp_path / "other"
    other.mkdir()
    (other / "ckpt-2.npz").write_bytes(b"")
    with pytest.raises(UserError, match="--backend jax"):
        checkpoints.check_backend(str(other), "tensorflow")
    checkpoints.check_backend(str(tmp_path / "missing"), "jax")
