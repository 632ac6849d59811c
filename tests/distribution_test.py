"""Training scales past one device: the same numbers on 1 replica, 2 mirrored CPUs and 2 workers.

conftest.py splits the CPU into two logical devices for MirroredStrategy. The multi-worker run
uses two local processes (tests/multiworker_worker.py) joined over loopback by TF_CONFIG.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import multiworker_worker as worker
import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_strategy

from monet_gan.errors import UserError
from monet_gan.training import config as config_lib
from monet_gan.training import cyclegan
from monet_gan.training import train as train_lib

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_SCRIPT = os.path.join(PROJECT_ROOT, "tests", "multiworker_worker.py")
WORKER_TIMEOUT_SECONDS = 180


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


@pytest.fixture(scope="module")
def initial_weights(tmp_path_factory):
    """Seeded starting weights, saved where the worker processes can read them."""
    weights = worker.starting_weights(seed=0)
    path = tmp_path_factory.mktemp("weights") / "initial.npz"
    np.savez(path, **weights)
    return path, weights


@pytest.fixture(scope="module")
def workers(initial_weights, tmp_path_factory):
    """Two worker processes, started before the reference run so that the two overlap."""
    path, _ = initial_weights
    output_prefix = str(tmp_path_factory.mktemp("workers") / "worker")
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        environment = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2",
                       "CUDA_VISIBLE_DEVICES": ""}
        processes.append(subprocess.Popen(
            [sys.executable, WORKER_SCRIPT, str(path), output_prefix], cwd=PROJECT_ROOT, env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    yield processes, output_prefix
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def single_replica(initial_weights):
    """The reference: one replica, the same global batch, the same starting weights."""
    _, weights = initial_weights
    model, losses = worker.build_and_train(worker.equivalence_config(), tf.distribute.get_strategy(), weights)
    return worker.network_weights(model), losses


def _assert_same_training(weights, losses, reference, start):
    """Same logged losses; every weight within 1% of how far it moved, or a couple of ulps of it."""
    reference_weights, reference_losses = reference
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-4, atol=1e-6)
    assert weights.keys() == reference_weights.keys()
    for key, value in weights.items():
        moved = np.max(np.abs(reference_weights[key] - start[key]))
        assert moved > 0, f"{key} did not train"
        difference = np.max(np.abs(value - reference_weights[key]))
        tolerance = 0.01 * moved + 2 * np.spacing(np.max(np.abs(value)))
        assert difference <= tolerance, f"{key}: differs by {difference:.3g}, moved {moved:.3g}"


def test_two_workers_on_loopback_match_one_process(workers, single_replica, initial_weights):
    processes, output_prefix = workers
    for index, process in enumerate(processes):
        try:
            stdout, stderr = process.communicate(timeout=WORKER_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"worker {index} timed out; its output ends:\n{stderr[-3000:]}")
        assert process.returncode == 0, f"worker {index} failed:\n{stderr[-3000:]}"
        assert f"worker {index} done" in stdout and "with 2 replicas" in stdout
    _, start = initial_weights
    for index in range(2):
        with np.load(f"{output_prefix}{index}.npz") as archive:
            results = dict(archive)
        losses = results.pop("losses")
        assert losses.shape == (worker.STEPS, len(cyclegan.METRIC_NAMES))
        _assert_same_training(results, losses, single_replica, start)


def test_two_mirrored_cpus_match_one_replica_at_the_same_global_batch(single_replica, initial_weights):
    _, weights = initial_weights
    strategy = two_cpu_strategy()
    model, losses = worker.build_and_train(worker.equivalence_config(), strategy, weights, run_eagerly=False)
    assert strategy.num_replicas_in_sync == 2
    _assert_same_training(worker.network_weights(model), losses, single_replica, weights)


def test_mixed_bfloat16_step_keeps_losses_and_outputs_float32():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        config = config_lib.TrainConfig.smoke()
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=2)
        random = np.random.default_rng(0)
        shape = (config.batch_size, config.image_size, config.image_size, 3)
        photos, monets = (tf.constant(random.uniform(-1, 1, shape), tf.float32) for _ in range(2))
        logs = model.train_step((photos, monets))
        per_example, outputs = model.painting.generator_losses(photos, monets)
        verdict = model.monet_discriminator(photos)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    # The policy was in force: the convolutions computed in bfloat16 on float32 weights.
    compute_dtypes = {layer.compute_dtype for layer in model.photo_to_monet.layers}
    assert "bfloat16" in compute_dtypes
    assert all(variable.dtype == "float32" for variable in model.photo_to_monet.weights)
    for name, value in {**logs, **per_example}.items():
        assert value.dtype == tf.float32, name
        assert np.all(np.isfinite(value.numpy())), name
    for name in ("fake", "identity", "forward_cycle", "backward_cycle", "verdict"):
        assert outputs[name].dtype == tf.float32, name
    assert verdict.dtype == tf.float32
    assert int(model.optimizers["photo_to_monet"].iterations.numpy()) == 1
    assert keras.mixed_precision.global_policy().name == previous.name


def test_global_batch_not_divisible_by_the_replicas_names_both(tmp_path):
    strategy = two_cpu_strategy()
    config = config_lib.TrainConfig.smoke(batch_size=3)
    with pytest.raises(UserError, match="global batch size 3 is not divisible by the 2 replicas"):
        train_lib.train(config, str(tmp_path / "run"), data_dir=str(tmp_path), strategy=strategy, verbose=0)


def test_several_steps_per_execution_on_mirrored_replicas_is_refused_up_front(tmp_path):
    strategy = two_cpu_strategy()
    config = config_lib.TrainConfig.smoke(batch_size=4, steps_per_execution=2)
    with pytest.raises(UserError, match="steps_per_execution=2 does not work with MirroredStrategy with 2 replicas"):
        train_lib.train(config, str(tmp_path / "run"), data_dir=str(tmp_path), strategy=strategy, verbose=0)


def test_cli_with_a_tf_config_that_does_not_parse_says_so(tmp_path):
    environment = {**os.environ, "TF_CONFIG": "{not json", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "monet_gan", "train", "--smoke", "--run-dir", str(tmp_path / "run")],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "error: TF_CONFIG is not valid JSON" in result.stderr and "{not json" in result.stderr
    assert "Traceback" not in result.stderr


def test_steps_per_execution_flag_reaches_the_config():
    import argparse

    parser = argparse.ArgumentParser()
    train_lib.add_arguments(parser)
    args = parser.parse_args(["--run-dir", "r", "--smoke", "--steps-per-execution", "32", "--time-budget", "4h30m"])
    assert train_lib.config_from_args(args).steps_per_execution == 32
    assert args.time_budget == "4h30m"
