"""The CycleGAN model: schedules, the generator EMA, and training under MirroredStrategy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from monet_gan.training import config as config_lib
from monet_gan.training import cyclegan


def test_schedule_is_constant_then_linear_to_zero():
    schedule = cyclegan.ConstantThenLinearDecay(2e-4, total_steps=100, decay_start_step=50)
    values = [float(schedule(step)) for step in (0, 49, 50, 75, 100, 120)]
    np.testing.assert_allclose(values, [2e-4, 2e-4, 2e-4, 1e-4, 0.0, 0.0], rtol=1e-6, atol=1e-12)
    with pytest.raises(ValueError, match="decay_start_step=200"):
        cyclegan.ConstantThenLinearDecay(2e-4, total_steps=100, decay_start_step=200)


def test_each_optimizer_runs_its_own_schedule():
    model = cyclegan.CycleGAN(config_lib.TrainConfig.smoke())
    model.compile(total_steps=8)
    assert len({id(optimizer) for optimizer in model.optimizers.values()}) == 4
    for optimizer in model.optimizers.values():
        schedule = optimizer.get_config()["learning_rate"]
        assert schedule["class_name"] == "ConstantThenLinearDecay"
        assert schedule["config"]["total_steps"] == 8


def _batch(config, seed):
    random = np.random.default_rng(seed)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    return (tf.constant(random.uniform(-1, 1, shape), tf.float32),
            tf.constant(random.uniform(-1, 1, shape), tf.float32))


def test_ema_moves_toward_the_live_weights_at_the_configured_rate():
    keras.utils.set_random_seed(1)
    config = config_lib.TrainConfig.smoke(ema_decay=0.9)
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=10)
    optimizer = model.optimizers["photo_to_monet"]
    assert optimizer.use_ema and not model.optimizers["monet_to_photo"].use_ema
    averages = optimizer._model_variables_moving_average
    model.train_step(_batch(config, 0))
    live = [v.numpy() for v in model.photo_to_monet.trainable_variables]
    # The first step starts the average at the weights themselves.
    for average, value in zip(averages, live):
        np.testing.assert_allclose(np.array(average), value, rtol=1e-6)
    previous = [np.array(average) for average in averages]
    model.train_step(_batch(config, 1))
    for average, old, variable in zip(averages, previous, model.photo_to_monet.trainable_variables):
        expected = 0.9 * old + 0.1 * variable.numpy()
        np.testing.assert_allclose(np.array(average), expected, rtol=1e-5, atol=1e-7)


def test_mixed_float16_step_scales_the_loss_and_stays_finite():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        config = config_lib.TrainConfig.smoke()
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=10)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert all(isinstance(optimizer, keras.optimizers.LossScaleOptimizer) for optimizer in model.optimizers.values())
    initial_scale = float(model.optimizers["photo_to_monet"].dynamic_scale.numpy())
    before = [v.numpy() for v in model.photo_to_monet.trainable_variables]
    for seed in range(3):
        logs = model.train_step(_batch(config, seed))
        assert all(np.isfinite(float(value)) for value in logs.values()), logs
    for optimizer in model.optimizers.values():
        # Either every step was applied, or an overflowing one was skipped and the scale halved.
        steps = int(optimizer.iterations.numpy())
        scale = float(optimizer.dynamic_scale.numpy())
        assert steps == 3 or (steps < 3 and scale == initial_scale / 2 ** (3 - steps)), (steps, scale)
    after = [v.numpy() for v in model.photo_to_monet.trainable_variables]
    assert int(model.optimizers["photo_to_monet"].iterations.numpy()) == 0 or any(
        not np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.all(np.isfinite(value)) for value in after)
