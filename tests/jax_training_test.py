"""Training and painting under the JAX backend, in subprocesses with KERAS_BACKEND=jax.

Keras fixes its backend when first imported, and this pytest run imported it with TensorFlow, so
every JAX check runs in a child process (tests/jax_worker.py or the command line).
"""

import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from monet_gan import cli
from monet_gan.errors import UserError

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER = str(PROJECT_ROOT / "tests" / "jax_worker.py")


def run(command, backend="jax", extra_environment=None, timeout=540):
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **(extra_environment or {})}
    if not extra_environment:
        environment.pop("XLA_FLAGS", None)
    return subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def test_select_backend_refuses_a_second_backend_once_keras_is_loaded():
    import keras

    cli.select_backend(keras.backend.backend())  # The loaded one is fine.
    with pytest.raises(UserError, match="already loaded with the tensorflow backend"):
        cli.select_backend("jax")
    with pytest.raises(UserError, match="Unknown backend 'torch'"):
        cli.select_backend("torch")
    assert cli.requested_backend(["--run-dir", "x", "--backend", "jax"]) == "jax"
    assert cli.requested_backend(["--backend=tensorflow"]) == "tensorflow"
    assert cli.requested_backend(["--run-dir", "x"]) is None


@pytest.mark.slow
def test_jax_updates_leave_the_frozen_networks_bit_identical():
    result = run([sys.executable, WORKER, "freezing"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.slow
def test_jax_mixed_float16_step_scales_the_loss_and_stays_finite():
    result = run([sys.executable, WORKER, "float16"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.slow
def test_eight_device_data_parallel_matches_one_device(tmp_path):
    out = tmp_path / "weights.npz"
    result = run([sys.executable, WORKER, "equivalence", str(out)],
                 extra_environment={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as arrays:
        count = len([key for key in arrays if key.startswith("one_")])
        moved = 0.0
        for index in range(count):
            one, eight, initial = arrays[f"one_{index}"], arrays[f"eight_{index}"], arrays[f"initial_{index}"]
            moved = max(moved, float(np.max(np.abs(one - initial))))
            # Tolerance: float32 sums over a batch split eight ways differ in their last bits.
            np.testing.assert_allclose(eight, one, rtol=1e-4, atol=1e-5)
    assert moved > 1e-4, "training did not move the weights"


@pytest.fixture(scope="module")
def jax_run(shared_data, tmp_path_factory):
    """A tiny run trained under JAX on real photos and Monets, one epoch then resumed for a second."""
    root = tmp_path_factory.mktemp("jax_run")
    photos = root / "photos"
    photos.mkdir()
    for name in sorted(os.listdir(shared_data / "photo_jpg"))[:16]:
        os.symlink(shared_data / "photo_jpg" / name, photos / name)
    run_dir = root / "run"
    command = [sys.executable, "-m", "monet_gan", "train", "--backend", "jax", "--smoke", "--photos", str(photos),
               "--monets", str(shared_data / "monet_tfrec"), "--run-dir", str(run_dir),
               "--steps-per-epoch", "2", "--seed", "1"]
    first = run(command + ["--epochs", "1"], backend="tensorflow")
    assert first.returncode == 0, first.stderr[-3000:]
    second = run(command + ["--epochs", "2"], backend="tensorflow")
    assert second.returncode == 0, second.stderr[-3000:]
    return {"root": root, "photos": photos, "monets": shared_data / "monet_tfrec", "run_dir": run_dir,
            "first": first, "second": second}


@pytest.mark.real_data
@pytest.mark.slow
def test_jax_trains_and_resumes_on_real_data(jax_run):
    run_dir = jax_run["run_dir"]
    assert "JAX DataParallel over 1 cpu device" in jax_run["first"].stdout
    assert f"resuming {run_dir} after epoch 1 of 2" in jax_run["second"].stdout
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["ckpt-1.npz", "ckpt-2.npz"]
    with np.load(run_dir / "checkpoints" / "ckpt-2.npz") as arrays:
        iterations = [arrays[key] for key in arrays if "photo_to_monet_optimizer" in key and "iteration" in key]
        epochs = [arrays[key] for key in arrays if key.endswith(":epoch")]
    assert [int(value) for value in iterations] == [4] and [int(value) for value in epochs] == [2]
    assert (run_dir / "photo_to_monet.keras").exists()
    with open(run_dir / "log.csv") as file:
        assert [line.split(",", 1)[0] for line in file.readlines()[1:]] == ["0", "1"]


@pytest.mark.real_data
@pytest.mark.slow
def test_a_jax_run_does_not_resume_under_tensorflow(jax_run):
    result = run([sys.executable, "-m", "monet_gan", "train", "--backend", "tensorflow", "--smoke",
                  "--photos", str(jax_run["photos"]), "--monets", str(jax_run["monets"]),
                  "--run-dir", str(jax_run["run_dir"]), "--epochs", "3",
                  "--steps-per-epoch", "2"], backend="tensorflow")
    assert result.returncode == 2
    assert "trained under the jax backend and cannot resume under tensorflow" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_a_jax_trained_generator_writes_a_valid_zip_under_either_backend(jax_run, backend):
    out = jax_run["root"] / f"images_{backend}.zip"
    result = run([sys.executable, "submit.py", "--backend", backend, "--ckpt", str(jax_run["run_dir"]),
                  "--photos", str(jax_run["photos"]), "--limit", "5", "--batch-size", "4", "--out", str(out)],
                 backend="tensorflow")
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert len(names) == 5 and all(name.endswith(".jpg") for name in names)
        assert archive.read(names[0])[:2] == b"\xff\xd8"
