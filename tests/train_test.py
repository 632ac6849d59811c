"""The trainer end to end: run directory contents, resume after a kill, and its errors."""

import csv
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from monet_gan import demo
from monet_gan.errors import UserError
from monet_gan.training import callbacks as callbacks_lib
from monet_gan.training import config as config_lib
from monet_gan.training import train as train_lib

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    return demo.make_demo_data(str(tmp_path_factory.mktemp("data")), photo_count=12, painting_count=6, size=32)


@pytest.fixture(scope="module")
def finished_run(synthetic_data, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("run"))
    config = config_lib.TrainConfig.smoke(epochs=1, steps_per_epoch=2, seed=0)
    summary = train_lib.train(config, run_dir, data_dir=synthetic_data, verbose=0)
    return run_dir, summary


def test_run_directory_holds_everything_a_person_and_submit_need(finished_run):
    run_dir, _ = finished_run
    for name in ("config.json", "log.csv", "loss_curves.png", "photo_to_monet.keras",
                 "photo_to_monet_ema.keras", os.path.join("samples", "epoch_001.png")):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")).endswith("ckpt-1")
    with open(os.path.join(run_dir, "log.csv")) as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["0"]
    assert "photo_to_monet_loss" in rows[0] and "monet_real_accuracy" in rows[0]


def test_exported_generator_reloads_and_paints_identically(finished_run):
    run_dir, summary = finished_run
    photos = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    reloaded = keras.saving.load_model(os.path.join(run_dir, "photo_to_monet.keras"))
    np.testing.assert_allclose(reloaded(photos), summary["model"].photo_to_monet(photos), atol=1e-6)
    ema = keras.saving.load_model(os.path.join(run_dir, "photo_to_monet_ema.keras"))
    averages = summary["model"].optimizers["photo_to_monet"]._model_variables_moving_average
    for variable, average in zip(ema.trainable_variables, averages):
        np.testing.assert_array_equal(variable.numpy(), np.array(average))


def _optimizer_steps_of_fit(steps_per_epoch, steps_per_execution, epochs=2):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense")], name="tiny")
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    data = tf.data.Dataset.from_tensor_slices((np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")))
    model.fit(data.batch(2).repeat(), epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0)
    return int(model.optimizer.iterations.numpy())


def test_keras_runs_whole_calls_so_the_epoch_is_rounded_to_them():
    # Keras walks an epoch in calls of steps_per_execution steps: 219 become 224.
    assert _optimizer_steps_of_fit(219, 32) == 2 * 224
    steps = config_lib.steps_per_epoch_for(7038, 32, steps_per_execution=32)
    assert _optimizer_steps_of_fit(steps, 32) == 2 * steps


def test_the_trainer_counts_the_steps_keras_runs(synthetic_data, tmp_path):
    config = config_lib.TrainConfig.smoke(epochs=2, steps_per_epoch=3, steps_per_execution=2, seed=0)
    summary = train_lib.train(config, str(tmp_path / "run"), data_dir=synthetic_data, verbose=0)
    assert summary["steps_per_epoch"] == 4
    assert summary["steps"] == 2 * 4 == int(summary["model"].schedule_steps["total_steps"].numpy())


def test_resuming_with_another_architecture_names_the_mismatch(finished_run, synthetic_data):
    run_dir, _ = finished_run
    config = config_lib.TrainConfig.smoke(epochs=1, image_size=64)
    with pytest.raises(UserError, match="image_size: 32 in the run, 64 requested"):
        train_lib.train(config, run_dir, data_dir=synthetic_data, verbose=0)


def test_non_finite_loss_stops_with_epoch_and_step_and_writes_no_checkpoint(tmp_path):
    config = config_lib.TrainConfig.smoke()
    from monet_gan.training import cyclegan

    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=4)
    images = np.full((2, 32, 32, 3), np.nan, "float32")
    dataset = tf.data.Dataset.from_tensors((images, images)).repeat()
    epoch = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(train_lib.make_checkpoint(model, epoch), str(tmp_path), max_to_keep=1)
    callbacks = [callbacks_lib.StopOnNonFiniteLoss(),
                 callbacks_lib.EpochArtifacts(str(tmp_path), manager, epoch, images[:1])]
    with pytest.raises(UserError, match=r"at epoch 1, step 1"):
        model.fit(dataset, epochs=1, steps_per_epoch=2, callbacks=callbacks, verbose=0)
    assert manager.latest_checkpoint is None


@pytest.mark.real_data
def test_killed_run_resumes_from_its_last_checkpoint(shared_data, tmp_path):
    """Real Monet TFRecords and real photos: kill a run after its first epoch, run it again."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in sorted(os.listdir(shared_data / "photo_jpg"))[:48]:
        os.symlink(shared_data / "photo_jpg" / name, photos / name)
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "monet_gan", "train", "--smoke", "--photos", str(photos),
        "--monets", str(shared_data / "monet_tfrec"), "--run-dir", str(run_dir),
        "--epochs", "3", "--steps-per-epoch", "12", "--seed", "1",
    ]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The state file is written (atomically) after the checkpoint's data: waiting for the data files
    # alone lets the kill fall between the two, and then no checkpoint can be found.
    first_checkpoint = run_dir / "checkpoints" / "checkpoint"
    deadline = time.time() + 240
    while not first_checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first_checkpoint.exists(), "the run never finished its first epoch"
    finished_epochs = int(tf.train.load_checkpoint(str(run_dir / "checkpoints")).get_tensor(
        "epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    assert 1 <= finished_epochs < 3, "the kill came too late to test resuming"

    result = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {run_dir} after epoch {finished_epochs} of 3" in result.stdout
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 3
    iteration_keys = [key for key, _ in tf.train.list_variables(str(run_dir / "checkpoints"))
                      if key.startswith("photo_to_monet_optimizer/") and "iteration" in key]
    assert [reader.get_tensor(key) for key in iteration_keys] == [36]
    with open(run_dir / "log.csv") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0", "1", "2"]


def test_cli_bad_source_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "monet_gan", "train", "--smoke", "--run-dir", str(tmp_path / "run"),
         "--photos", str(tmp_path / "no_such_photos"), "--monets", str(tmp_path / "no_such_monets")],
        cwd=PROJECT_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "no_such_photos" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_resumed_seeded_run_continues_the_uninterrupted_photo_order(synthetic_data, tmp_path, monkeypatch):
    """Runs 1 epoch, then resumes to 3; the photos must be those of 3 epochs in one go."""
    from monet_gan.data import pipeline

    calls = []
    real_training_dataset = pipeline.training_dataset

    def recording_training_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return real_training_dataset(*args, **kwargs)

    monkeypatch.setattr(pipeline, "training_dataset", recording_training_dataset)
    config = config_lib.TrainConfig.smoke(epochs=3, steps_per_epoch=2, seed=5, ema_decay=0.0)
    train_lib.train(config.replace(epochs=1), str(tmp_path / "split"), data_dir=synthetic_data, verbose=0)
    train_lib.train(config, str(tmp_path / "split"), data_dir=synthetic_data, verbose=0)
    assert [(kwargs["first_epoch"], kwargs["end_epoch"]) for _, kwargs in calls] == [(0, 1), (1, 3)]

    def photo_names(call, epochs):
        args, kwargs = call
        dataset = real_training_dataset(*args, **{**kwargs, "with_names": True})
        steps = kwargs["steps_per_epoch"] * epochs
        return [list(batch[2]) for batch in dataset.take(steps).as_numpy_iterator()]

    # An uninterrupted run makes the first call, but for 3 epochs.
    whole = photo_names((calls[0][0], {**calls[0][1], "end_epoch": 3}), 3)
    assert photo_names(calls[0], 1) + photo_names(calls[1], 2) == whole
    with open(tmp_path / "split" / "log.csv") as file:
        header = file.readline().strip().split(",")
    assert header[0] == "epoch" and not [name for name in header if name.startswith("val_")]


def test_diffaugment_flag_turns_it_on_or_off_over_the_config():
    import argparse

    parser = argparse.ArgumentParser()
    train_lib.add_arguments(parser)
    recipe = train_lib.config_from_args(parser.parse_args(["--run-dir", "r"]))
    assert recipe.diffaugment_policy == ""
    on = parser.parse_args(["--run-dir", "r", "--diffaugment", config_lib.DIFFAUGMENT_POLICY])
    assert train_lib.config_from_args(on).diffaugment_policy == "color,translation,cutout"
    off = parser.parse_args(["--run-dir", "r", "--smoke", "--diffaugment", ""])
    assert train_lib.config_from_args(off).diffaugment_policy == ""
    with pytest.raises(ValueError, match="diffaugment_policy='blur'"):
        train_lib.config_from_args(parser.parse_args(["--run-dir", "r", "--diffaugment", "blur"]))
