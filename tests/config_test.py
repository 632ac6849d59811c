"""The config: recipe defaults, validation that names the bad value, JSON round trip."""

import json

import pytest

from monet_gan.training import config as config_lib


def test_defaults_are_the_recommended_recipe():
    config = config_lib.TrainConfig()
    assert (config.image_size, config.loss, config.cycle_weight) == (256, "lsgan", 10.0)
    assert config.identity_loss_weight == 5.0
    assert (config.learning_rate, config.beta_1, config.pool_size) == (2e-4, 0.5, 50)
    assert config.steps_per_epoch is None  # every epoch walks all photos


def test_smoke_variant_is_tiny():
    smoke = config_lib.TrainConfig.smoke()
    assert smoke.image_size <= 64 and smoke.generator_filters <= 16


@pytest.mark.parametrize(
    "field, value",
    [("generator", "vgg"), ("loss", "wasserstein"), ("image_size", 0), ("batch_size", -2),
     ("real_label", 1.5), ("ema_decay", 1.0), ("steps_per_epoch", 0), ("pool_size", -1)],
)
def test_invalid_values_are_value_errors_naming_the_value(field, value):
    with pytest.raises(ValueError, match=f"{field}={value!r}".replace("(", r"\(").replace(".", r"\.")):
        config_lib.TrainConfig(**{field: value})


def test_json_round_trip_and_unknown_keys(tmp_path):
    config = config_lib.TrainConfig.smoke(seed=3)
    path = str(tmp_path / "config.json")
    config.to_json(path)
    assert config_lib.TrainConfig.from_json(path) == config
    with open(path) as file:
        values = json.load(file)
    values["learning_rat"] = 1.0
    with pytest.raises(ValueError, match="learning_rat"):
        config_lib.TrainConfig.from_dict(values)


def test_architecture_mismatches_name_the_field():
    run = config_lib.TrainConfig.smoke()
    assert run.architecture_mismatches(run.replace(epochs=9)) == []
    (mismatch,) = run.replace(image_size=64).architecture_mismatches(run)
    assert "image_size" in mismatch and "32" in mismatch and "64" in mismatch


def test_decay_starts_at_the_configured_fraction_of_the_run():
    assert config_lib.TrainConfig().decay_start_step(6570) == 3285
    assert config_lib.TrainConfig(decay_start_fraction=0.25).decay_start_step(10) == 2
    assert config_lib.TrainConfig(decay_start_fraction=1.0).decay_start_step(7) == 7


def _two_t4s():
    from monet_gan import devices

    return devices.Devices("gpu", count=2, names=("Tesla T4", "Tesla T4"),
                           compute_capabilities=((7, 5), (7, 5)), memory_bytes=15 * 1024**3)


def test_two_t4s_get_a_batch_that_fits_unless_the_user_chose_one():
    overrides = config_lib.device_overrides(_two_t4s())
    assert overrides == {"batch_size": 8, "steps_per_execution": 1}
    config, applied = config_lib.apply_device_overrides(config_lib.TrainConfig(), _two_t4s())
    assert (config.batch_size, applied) == (8, {"batch_size": 8})
    chosen = config_lib.TrainConfig(batch_size=16)
    assert config_lib.apply_device_overrides(chosen, _two_t4s()) == (chosen, {})
    # A strategy over one of the two GPUs: the batch of one.
    assert config_lib.device_overrides(_two_t4s(), replicas=1)["batch_size"] == 4


def test_tpus_and_cpus_keep_the_recipe():
    from monet_gan import devices

    assert config_lib.device_overrides(devices.Devices("tpu", count=8, tpu_vm=True)) == {}
    assert config_lib.device_overrides(devices.Devices("cpu")) == {}


def test_steps_per_epoch_is_a_multiple_of_steps_per_execution():
    assert config_lib.steps_per_epoch_for(7038, 32) == 219
    assert config_lib.steps_per_epoch_for(7038, 32, steps_per_execution=32) == 224
    assert config_lib.steps_per_epoch_for(7038, 32, 4, steps_per_epoch=10) == 12
    assert config_lib.steps_per_epoch_for(3, 4, 32) == 0
    with pytest.raises(ValueError, match="steps_per_execution .* got 0"):
        config_lib.steps_per_epoch_for(7038, 32, 0)


def test_ema_decay_for_a_shorter_run_keeps_the_recipes_share_of_the_run():
    recipe_steps = 30 * 219
    assert config_lib.ema_decay_for(recipe_steps) == pytest.approx(0.999)
    # 300 steps: the ablation's runs, averaged over the same ~15% of the run (~45 steps).
    assert config_lib.ema_decay_for(300) == pytest.approx(0.9781, abs=1e-4)
    assert config_lib.ema_decay_for(1) == 0.0
    with pytest.raises(ValueError, match="total_steps must be a positive integer, got 0"):
        config_lib.ema_decay_for(0)
