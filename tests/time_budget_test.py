"""The time budget: durations, the plan, the callback on a simulated clock, and a real tiny run."""

import json
import os
import time

import numpy as np
import pytest
import tensorflow as tf

from monet_gan import demo
from monet_gan import run_folder
from monet_gan.errors import UserError
from monet_gan.kaggle import notebook as notebook_lib
from monet_gan.training import config as config_lib
from monet_gan.training import time_budget
from monet_gan.training import train as train_lib


@pytest.mark.parametrize("text, seconds", [
    ("4h30m", 16200), ("90m", 5400), ("5400", 5400), (5400, 5400), ("1h5m30s", 3930),
    ("45s", 45), ("1.5h", 5400), (" 2h 15m ", 8100), (0.5, 0.5),
])
def test_durations_in_seconds_or_hours_and_minutes(text, seconds):
    assert time_budget.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "4x", "-5", "0", "h", True, None, "1m2h"])
def test_bad_durations_echo_the_value(text):
    with pytest.raises(ValueError, match="Invalid duration"):
        time_budget.parse_duration(text)


def test_plan_fits_whole_epochs_and_keeps_time_for_the_final_export():
    # 10 steps of 1 s and 5 s per epoch end: 15 s per epoch, 5 s kept for the final export.
    plan = time_budget.plan_epochs(100, 1.0, 5.0, 10, epochs_done=2, steps_into_epoch=0, max_epochs=50)
    assert plan == (2 + 6, 80)
    assert time_budget.plan_epochs(100, 1.0, 5.0, 10, 2, 0, max_epochs=4) == (4, 40)
    # Mid-epoch: finishing the current one takes 7 + 5 s, then 5 more epochs fit.
    assert time_budget.plan_epochs(100, 1.0, 5.0, 10, 0, 3, 50) == (6, 60)
    # Not even the current epoch fits: stop inside it at the last step that does.
    assert time_budget.plan_epochs(14, 1.0, 5.0, 10, 0, 3, 50) == (1, 3 + 4)
    # At an epoch's end with too little time left: plan to stop now.
    assert time_budget.plan_epochs(10, 1.0, 5.0, 10, 3, 0, 50) == (3, 30)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeModel:
    """What the callback touches: stop_training and the schedule's length."""

    def __init__(self):
        self.stop_training = False
        self.schedule_lengths = []

    def set_schedule_length(self, total_steps):
        self.schedule_lengths.append(total_steps)


def _simulate(monkeypatch, budget, steps_per_epoch, epochs, step_seconds, epoch_end_seconds,
              compile_seconds, tmp_path=None, overhead_guess_seconds=0.0):
    """Drives a TimeBudget through Keras' callback sequence on a fake clock; returns what happened."""
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    model = FakeModel()
    callback = time_budget.TimeBudget(clock() + budget, steps_per_epoch, epochs,
                                      run_dir=None if tmp_path is None else str(tmp_path),
                                      overhead_guess_seconds=overhead_guess_seconds)
    callback.set_model(model)
    steps = 0
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        for batch in range(steps_per_epoch):
            clock.now += step_seconds + (compile_seconds if steps == 0 else 0)
            steps += 1
            callback.on_train_batch_end(batch)
            if model.stop_training:
                break
        callback.on_epoch_end(epoch)
        clock.now += epoch_end_seconds  # The checkpoint and export, after the callback's turn.
        if model.stop_training:
            break
    clock.now += epoch_end_seconds  # The export after training.
    return {"epochs": epoch + 1, "steps": steps, "end": clock.now - 1000.0, "model": model,
            "callback": callback}


def test_callback_fills_the_budget_with_whole_epochs_and_decays_at_the_last_step(monkeypatch, tmp_path):
    run = _simulate(monkeypatch, budget=300, steps_per_epoch=10, epochs=100, step_seconds=1.0,
                    epoch_end_seconds=5.0, compile_seconds=20.0, tmp_path=tmp_path)
    assert run["end"] <= 300
    # 20 s of compilation, then 15 s per epoch and 5 s for the export: 18 epochs fit, not 19.
    assert run["epochs"] == 18 and run["steps"] == 180
    assert run["model"].schedule_lengths[-1] == run["steps"]
    recorded = json.loads((tmp_path / run_folder.TIME_BUDGET_FILE).read_text())
    assert recorded["planned_epochs"] == 18 and recorded["planned_steps"] == 180
    assert recorded["plans"][0]["steps_into_epoch"] == 2  # Planned after the first timed step.


def test_callback_never_trains_more_than_the_configured_epochs(monkeypatch):
    run = _simulate(monkeypatch, budget=10_000, steps_per_epoch=10, epochs=5, step_seconds=1.0,
                    epoch_end_seconds=5.0, compile_seconds=0.0)
    assert run["epochs"] == 5 and run["model"].schedule_lengths[-1] == 50
    assert not run["model"].stop_training


def test_callback_ends_inside_the_first_epoch_when_not_even_one_fits(monkeypatch):
    # No epoch end has been seen yet, so the plan can only use the guess of its cost.
    run = _simulate(monkeypatch, budget=60, steps_per_epoch=100, epochs=10, step_seconds=1.0,
                    epoch_end_seconds=5.0, compile_seconds=10.0, overhead_guess_seconds=5.0)
    assert run["epochs"] == 1 and run["steps"] < 100
    assert run["end"] <= 60
    assert run["model"].schedule_lengths[-1] == run["steps"]


def test_callback_replans_when_steps_slow_down(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    model = FakeModel()
    callback = time_budget.TimeBudget(clock() + 200, 10, 100)
    callback.set_model(model)
    callback.on_epoch_begin(0)
    for batch in range(10):
        # The first steps are fast, then every step takes ten times as long.
        clock.now += 1.0 if batch < 3 else 10.0
        callback.on_train_batch_end(batch)
        if model.stop_training:
            break
    assert len(model.schedule_lengths) >= 2 and model.schedule_lengths[-1] < model.schedule_lengths[0]


def test_notebook_budget_subtracts_set_up_generation_and_margin(monkeypatch, capsys):
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    started = clock()
    clock.now += 600
    budget = notebook_lib.notebook_budget(started, generation_seconds=1200, time_limit="5h", margin="15m")
    assert budget == 5 * 3600 - 600 - 1200 - 900
    assert "limit - 10m00s set-up - 20m00s generation - 15m00s margin" in capsys.readouterr().out
    with pytest.raises(UserError, match="No time left to train within 1h"):
        notebook_lib.notebook_budget(started, generation_seconds=3000, time_limit="1h", margin="15m")


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    return demo.make_demo_data(str(tmp_path_factory.mktemp("data")), photo_count=12, painting_count=6, size=32)


def test_tiny_budget_ends_the_run_complete_and_in_time(synthetic_data, tmp_path):
    """A real CPU run asked for 50 epochs with 35 seconds: it stops early, decayed and exported."""
    run_dir = str(tmp_path / "run")
    config = config_lib.TrainConfig.smoke(epochs=50, steps_per_epoch=4, seed=0)
    budget = 35.0
    start = time.monotonic()
    summary = train_lib.train(config, run_dir, data_dir=synthetic_data, verbose=0, time_budget=budget)
    elapsed = time.monotonic() - start

    with open(os.path.join(run_dir, run_folder.TIME_BUDGET_FILE)) as file:
        recorded = json.load(file)
    assert 1 <= summary["epochs"] < 50
    assert summary["epochs"] == recorded["planned_epochs"]
    # Decayed: the schedule ends at the last step taken, where the learning rate is zero.
    model = summary["model"]
    optimizer = model.optimizers["photo_to_monet"]
    assert int(model.schedule_steps["total_steps"].numpy()) == summary["steps"] == recorded["planned_steps"]
    assert float(optimizer.learning_rate) == 0.0
    # Checkpointed and exported, with the plan saved in the checkpoint.
    checkpoint = tf.train.load_checkpoint(os.path.join(run_dir, run_folder.CHECKPOINT_DIR))
    assert checkpoint.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == summary["epochs"]
    assert checkpoint.get_tensor("total_steps/.ATTRIBUTES/VARIABLE_VALUE") == summary["steps"]
    assert os.path.isfile(os.path.join(run_dir, run_folder.GENERATOR_FILE))
    # In time, unless set-up and compilation alone took the whole budget (a very busy machine).
    if recorded["plans"][0]["seconds_left"] > 5:
        assert elapsed <= budget + 5, f"took {elapsed:.1f} s of a {budget:.0f} s budget"
    assert np.isfinite(recorded["plans"][-1]["step_seconds"])
