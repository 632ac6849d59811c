"""Strategy choice and the errors for what is not there."""

import pytest

from monet_gan import strategy as strategy_lib
from monet_gan.errors import UserError
from conftest import two_cpu_strategy


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
