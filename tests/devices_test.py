"""What the machine has, probed from files and variables, and the backend chosen before Keras loads."""

import os
import subprocess
import sys

import pytest

from monet_gan import devices

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _device_files(root, *names):
    for name in names:
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return str(root)


def _no_gpus():
    return []


def test_a_plain_machine_is_a_cpu(tmp_path):
    machine = devices.detect(root=str(tmp_path), environ={}, query_gpus=_no_gpus)
    assert machine.kind == "cpu" and not machine.has_tpu and not machine.has_bfloat16
    assert devices.default_backend(machine) == "tensorflow"
    assert machine.describe().startswith("cpu:")


@pytest.mark.parametrize("files, environ, count", [
    (("/dev/vfio/0", "/dev/vfio/1", "/dev/vfio/2", "/dev/vfio/3", "/dev/vfio/vfio"), {}, 4),  # v5e
    (("/dev/accel0", "/dev/accel1"), {}, 2),  # v2 to v4
    ((), {"ISTPUVM": "1", "TPU_ACCELERATOR_TYPE": "v5litepod-8"}, 8),  # Kaggle's variables only.
])
def test_a_tpu_vm_is_found_by_its_device_files_or_kaggle_variables(tmp_path, files, environ, count):
    root = _device_files(tmp_path, *files)
    machine = devices.detect(root=root, environ=environ, query_gpus=_no_gpus)
    assert machine.kind == "tpu" and machine.tpu_vm and machine.count == count
    assert machine.has_bfloat16
    assert devices.default_backend(root=root, environ=environ) == "jax"
    assert "TPU VM" in machine.describe()


def test_gpus_from_nvidia_smi_or_device_files(tmp_path):
    t4 = devices.parse_nvidia_smi_line("Tesla T4, 7.5, 15360")
    assert t4 == ("Tesla T4", (7, 5), 15360 * 1024**2)
    machine = devices.detect(root=str(tmp_path), environ={}, query_gpus=lambda: [t4, t4])
    assert (machine.kind, machine.count, machine.compute_capabilities) == ("gpu", 2, ((7, 5), (7, 5)))
    assert not machine.has_bfloat16 and machine.memory_bytes == 15 * 1024**3
    assert machine.describe() == "gpu: 2 x Tesla T4 (compute 7.5, 15.0 GiB each)"
    # An old nvidia-smi without compute_cap: the model's known capability stands in.
    a100 = devices.parse_nvidia_smi_line("NVIDIA A100-SXM4-40GB, [N/A], 40960")
    assert devices.detect(root=str(tmp_path), environ={}, query_gpus=lambda: [a100]).has_bfloat16
    # Without nvidia-smi, the device files count the GPUs (nvidiactl is not one).
    root = _device_files(tmp_path, "/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl")
    machine = devices.detect(root=root, environ={}, query_gpus=_no_gpus)
    assert (machine.kind, machine.count, machine.memory_bytes) == ("gpu", 2, devices.DEFAULT_GPU_MEMORY_BYTES)
    assert devices.default_backend(machine) == "tensorflow"


def test_choose_backend_sets_the_variable_only_when_nothing_chose_yet(tmp_path):
    tpu_root = _device_files(tmp_path / "tpu", "/dev/vfio/0")
    home = {"KERAS_HOME": str(tmp_path / "keras_home")}
    environ = dict(home)
    assert devices.choose_backend(root=tpu_root, environ=environ, modules={}) == "jax"
    assert environ["KERAS_BACKEND"] == "jax"
    environ = {**home, "KERAS_BACKEND": "tensorflow"}
    assert devices.choose_backend(root=tpu_root, environ=environ, modules={}) == "tensorflow"
    (tmp_path / "keras_home").mkdir()
    (tmp_path / "keras_home" / "keras.json").write_text('{"backend": "torch"}')
    environ = dict(home)
    assert devices.choose_backend(root=tpu_root, environ=environ, modules={}) == "torch"
    assert "KERAS_BACKEND" not in environ
    # Keras imported already: its backend is fixed, and nothing is set.
    import keras

    environ = {}
    assert devices.choose_backend(root=tpu_root, environ=environ) == keras.backend.backend()
    assert environ == {}


def test_devices_imports_no_framework():
    # Loaded on its own, as the package's __init__ uses it before anything imports Keras.
    script = (
        "import importlib.util, sys; "
        "spec = importlib.util.spec_from_file_location('devices', sys.argv[1]); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "module.detect(); "
        "print(sorted({'keras', 'tensorflow', 'jax', 'numpy'} & set(sys.modules)))"
    )
    path = os.path.join(PROJECT_ROOT, "monet_gan", "devices.py")
    completed = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "[]"


def _simulated_tpu_vm(tmp_path, **variables):
    root = _device_files(tmp_path / "machine", "/dev/vfio/0", "/dev/vfio/1")
    environ = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    environ.update({"MONET_GAN_DEVICE_ROOT": root, "ISTPUVM": "1", "KERAS_HOME": str(tmp_path / "home"),
                    "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu", **variables})
    return environ


def _run(script, environ):
    completed = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=environ,
                               capture_output=True, text=True, timeout=300)
    return completed


STRATEGY_SCRIPT = """
import monet_gan, keras
from monet_gan.errors import UserError
from monet_gan.training import strategy
print("backend", keras.backend.backend())
try:
    strategy.get_strategy()
except UserError as error:
    print("UserError:", error)
"""


@pytest.mark.slow
def test_on_a_simulated_tpu_vm_monet_gan_picks_jax_and_refuses_to_train_on_the_host(tmp_path):
    pytest.importorskip("jax", reason="JAX is not installed (Kaggle's GPU image has none)")
    # JAX here has only the CPU, as a TPU VM whose TPU is held by another process would.
    completed = _run(STRATEGY_SCRIPT, _simulated_tpu_vm(tmp_path))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "backend jax" in completed.stdout
    assert "UserError: This machine has a TPU" in completed.stdout
    assert "JAX sees only cpu devices" in completed.stdout


@pytest.mark.slow
def test_tensorflow_on_a_simulated_tpu_vm_says_to_set_keras_backend(tmp_path):
    completed = _run(STRATEGY_SCRIPT, _simulated_tpu_vm(tmp_path, KERAS_BACKEND="tensorflow"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "backend tensorflow" in completed.stdout
    assert "cannot reach it here" in completed.stdout and "KERAS_BACKEND=jax" in completed.stdout
