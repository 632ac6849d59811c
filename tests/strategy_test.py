"""Strategy choice and the errors for what is not there."""

import keras
import pytest
import tensorflow as tf
from conftest import two_cpu_strategy

from monet_gan.errors import UserError
from monet_gan.training import strategy as strategy_lib


def test_auto_on_this_machine_is_the_default_strategy(monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    strategy = strategy_lib.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert "1 replica" in capsys.readouterr().out


def test_asking_for_a_missing_tpu_names_what_was_found(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(UserError, match="no TPU_NAME"):
        strategy_lib.get_strategy("tpu")


def test_bad_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="TF_CONFIG is not valid JSON"):
        strategy_lib.get_strategy()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(UserError, match="'cluster' and 'task'"):
        strategy_lib.get_strategy()


def test_global_batch_must_split_evenly_across_replicas():
    mirrored = two_cpu_strategy()
    assert strategy_lib.check_global_batch(8, mirrored) == 4
    with pytest.raises(UserError, match="global batch size 5 is not divisible by the 2 replicas"):
        strategy_lib.check_global_batch(5, mirrored)


def test_unknown_strategy_name():
    with pytest.raises(ValueError, match="'quantum'"):
        strategy_lib.get_strategy("quantum")


@pytest.mark.parametrize("native_bfloat16, setting, expected", [
    (True, "auto", "mixed_bfloat16"),
    (False, "auto", "float32"),
    (True, "off", "float32"),
    (False, "on", "mixed_bfloat16"),
])
def test_mixed_precision_auto_follows_the_cpu(monkeypatch, native_bfloat16, setting, expected):
    monkeypatch.setattr(strategy_lib, "cpu_has_native_bfloat16", lambda: native_bfloat16)
    strategy = tf.distribute.get_strategy()
    assert strategy_lib.choose_dtype_policy(strategy, setting) == expected


def test_dtype_policy_holds_inside_the_block_only(monkeypatch):
    monkeypatch.setattr(strategy_lib, "cpu_has_native_bfloat16", lambda: True)
    before = keras.mixed_precision.global_policy().name
    with strategy_lib.dtype_policy(tf.distribute.get_strategy(), "on") as policy:
        assert policy == keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        layer = keras.layers.Dense(2)
    assert keras.mixed_precision.global_policy().name == before == "float32"
    assert layer.dtype_policy.name == "mixed_bfloat16"


def test_mixed_precision_rejects_an_unknown_setting():
    with pytest.raises(ValueError, match="'sometimes'"):
        strategy_lib.choose_dtype_policy(tf.distribute.get_strategy(), "sometimes")


@pytest.mark.parametrize("capabilities, expected", [
    ([(7, 5), (7, 5)], "mixed_float16"),  # Kaggle's two T4s.
    ([(6, 0)], "mixed_float16"),  # P100.
    ([(8, 0)], "mixed_bfloat16"),  # A100.
    ([], "mixed_float16"),  # Unknown: float16 works on every GPU with tensor cores or not.
])
def test_gpus_train_in_the_half_precision_their_units_have(monkeypatch, capabilities, expected):
    assert strategy_lib.gpu_half_policy(capabilities) == expected
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: ["/gpu:0"] if kind == "GPU" else [])
    monkeypatch.setattr(strategy_lib, "gpu_compute_capabilities", lambda: capabilities)
    strategy = tf.distribute.get_strategy()
    assert strategy_lib.choose_dtype_policy(strategy, "auto") == expected
    assert strategy_lib.choose_dtype_policy(strategy, "on") == expected
    assert strategy_lib.choose_dtype_policy(strategy, "off") == "float32"


def test_a_tpu_the_backend_cannot_reach_is_named():
    from monet_gan import devices

    tpu = devices.Devices("tpu", count=8, names=("v5litepod-8",), tpu_vm=True)
    problem = strategy_lib.unreachable_tpu_problem(tpu, backend="tensorflow")
    assert "v5litepod-8" in problem and "KERAS_BACKEND=jax" in problem
    assert strategy_lib.unreachable_tpu_problem(devices.Devices("cpu"), backend="tensorflow") is None
