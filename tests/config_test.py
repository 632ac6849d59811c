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
