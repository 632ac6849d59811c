"""Checks run under KERAS_BACKEND=jax in a subprocess of the (TensorFlow) test run.

    KERAS_BACKEND=jax python tests/jax_worker.py freezing
    KERAS_BACKEND=jax python tests/jax_worker.py float16
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/jax_worker.py equivalence OUT.npz

Prints one line "ok" (freezing) or writes the weights of a one-device and an eight-device run
(equivalence); any failed check raises, so the exit code says it.
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from monet_gan.training import composite  # noqa: E402
from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import cyclegan  # noqa: E402
from monet_gan.training import strategy as strategy_lib  # noqa: E402

assert keras.backend.backend() == "jax", keras.backend.backend()


def snapshot(model):
    return {name: [np.array(v.numpy()) for v in network.weights] for name, network in model.networks.items()}


def changed(before, after):
    return {name for name in before
            if any(not np.array_equal(old, new) for old, new in zip(before[name], after[name]))}


def batch(config, seed=0):
    random = np.random.default_rng(seed)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    return random.uniform(-1, 1, shape).astype("float32"), random.uniform(-1, 1, shape).astype("float32")


def freezing():
    keras.utils.set_random_seed(0)
    config = config_lib.TrainConfig.smoke(pool_size=2)
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=10)
    photos, monets = batch(config)
    for direction, trained, (source, target) in (
        ("painting", "photo_to_monet", (photos, monets)), ("photography", "monet_to_photo", (monets, photos)),
    ):
        before = snapshot(model)
        getattr(model, direction).update_generator(model.optimizers[trained], source, target)
        assert changed(before, snapshot(model)) == {trained}, (direction, changed(before, snapshot(model)))
    before = snapshot(model)
    composite.update_discriminator(model.monet_discriminator, model.optimizers["monet_discriminator"],
                                   monets, photos, config, model.discriminator_augmentation)
    assert changed(before, snapshot(model)) == {"monet_discriminator"}
    _, _, gradients = model.compute_gradients(photos, monets)
    for name in cyclegan.NETWORK_NAMES:
        before = snapshot(model)
        model.optimizers[name].apply(gradients[name], model.networks[name].trainable_variables)
        assert changed(before, snapshot(model)) == {name}, name
    # The compiled step through fit changes all four networks and logs finite losses.
    before = snapshot(model)
    history = model.fit(*batch(config, 1), epochs=1, batch_size=config.batch_size, verbose=0)
    assert changed(before, snapshot(model)) == set(cyclegan.NETWORK_NAMES)
    assert all(np.isfinite(values[-1]) for values in history.history.values()), history.history
    schedule_and_steps_per_execution(config)
    print("ok")


class ShortenSchedule(keras.callbacks.Callback):
    """Changes the schedule's length mid-fit, as the time budget does, and records the rates."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_end(self, batch, logs=None):
        optimizer = self.model.optimizers["photo_to_monet"]
        # Under JAX the trainer holds the state; the model's own method brings it back first.
        self.model.set_schedule_length(6)
        self.rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))


def schedule_and_steps_per_execution(config):
    """Two steps per call, and a schedule shortened mid-fit that the compiled step then follows."""
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=1000, steps_per_execution=2)
    callback = ShortenSchedule()
    photos, monets = (np.concatenate([batch(config, seed)[index] for seed in range(4)]) for index in (0, 1))
    model.fit(photos, monets, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    assert int(model.optimizers["photo_to_monet"].iterations.numpy()) == 4
    assert int(model.schedule_steps["total_steps"].numpy()) == 6
    # After the first call (two steps) the rate follows the 6-step schedule: decay from step 3 to 0 at 6.
    np.testing.assert_allclose(callback.rates[-1], config.learning_rate * (6 - 4) / 3, rtol=1e-5)


def float16():
    """A mixed_float16 step under JAX: loss scaling active, the skip-or-apply selects, finite losses."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    config = config_lib.TrainConfig.smoke()
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=10)
    keras.mixed_precision.set_global_policy("float32")
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in model.optimizers.values())
    initial_scale = float(model.optimizers["photo_to_monet"].dynamic_scale.numpy())
    photos, monets = (np.concatenate([batch(config, seed)[index] for seed in range(3)]) for index in (0, 1))
    history = model.fit(photos, monets, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0)
    assert all(np.isfinite(values[-1]) for values in history.history.values()), history.history
    for optimizer in model.optimizers.values():
        steps = int(optimizer.iterations.numpy())
        scale = float(optimizer.dynamic_scale.numpy())
        assert steps == 3 or (steps < 3 and scale == initial_scale / 2 ** (3 - steps)), (steps, scale)
    assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)
    print("ok")


def train_weights(config, strategy, weights, photos, monets, steps):
    with strategy.scope():
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=100)
    for variable, value in zip(model.trainable_variables, weights):
        variable.assign(value)
    with strategy_lib.fit_scope(strategy):
        model.fit(photos, monets, batch_size=config.batch_size, epochs=1, steps_per_epoch=steps,
                  shuffle=False, verbose=0)
    return [np.array(v.numpy()) for v in model.trainable_variables]


def equivalence(out_path):
    import jax

    assert len(jax.devices()) == 8, jax.devices()
    config = config_lib.TrainConfig.smoke(batch_size=8, diffaugment_policy="", dropout_rate=0.0, pool_size=4, seed=0)
    keras.utils.set_random_seed(0)
    reference = cyclegan.CycleGAN(config)
    random = np.random.default_rng(0)
    weights = [random.normal(0, 0.1, v.shape).astype("float32") for v in reference.trainable_variables]
    photos, monets = (np.concatenate([batch(config, seed)[index] for seed in range(3)]) for index in (0, 1))
    one = train_weights(config, strategy_lib.JaxDataParallel(jax.devices()[:1]), weights, photos, monets, 3)
    eight = train_weights(config, strategy_lib.JaxDataParallel(jax.devices()), weights, photos, monets, 3)
    np.savez(out_path, **{f"one_{i}": w for i, w in enumerate(one)}, **{f"eight_{i}": w for i, w in enumerate(eight)},
             **{f"initial_{i}": w for i, w in enumerate(weights)})
    print("ok")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    {"freezing": freezing, "equivalence": equivalence, "float16": float16}[sys.argv[1]](*sys.argv[2:])
