"""What this machine computes on (TPU VM, GPUs or CPU), found without importing Keras.

Keras fixes its backend when it is first imported, and on a Kaggle TPU VM only JAX can reach the
TPU (the image ships tensorflow-cpu, not tensorflow-tpu). So the backend has to be chosen from
what the machine has before anything imports Keras, which is why this module is pure Python:

    from monet_gan import devices
    devices.choose_backend()   # "jax" on a TPU VM, else "tensorflow"; sets KERAS_BACKEND if unset
    print(devices.detect().describe())

Every probe reads files under `root` ("/" unless MONET_GAN_DEVICE_ROOT says otherwise) and the
variables of `environ`, so tests can simulate a TPU VM or a GPU machine in a temporary folder.
"""

import dataclasses
import glob
import json
import os
import shutil
import subprocess
import sys

DEVICE_ROOT_ENV = "MONET_GAN_DEVICE_ROOT"
BACKEND_ENV = "KERAS_BACKEND"
# Compute capability of the GPUs Kaggle and Colab offer, for when nvidia-smi cannot report it.
# bfloat16 arithmetic needs 8.0 (Ampere) or newer.
KNOWN_COMPUTE_CAPABILITIES = {
    "P100": (6, 0), "V100": (7, 0), "T4": (7, 5), "A10": (8, 6), "A100": (8, 0), "L4": (8, 9),
    "H100": (9, 0),
}
BFLOAT16_COMPUTE_CAPABILITY = (8, 0)
# Memory of a Kaggle T4 as TensorFlow can use it; the fallback when nvidia-smi does not answer.
DEFAULT_GPU_MEMORY_BYTES = 15 * 1024**3


@dataclasses.dataclass(frozen=True)
class Devices:
    """The accelerators of this machine, as seen from the operating system.

    Attributes:
        kind: "tpu", "gpu" or "cpu".
        count: TPU chips or GPUs (1 for the CPU).
        names: GPU model names, e.g. ("Tesla T4", "Tesla T4"); TPU type, e.g. ("v5litepod-8",).
        compute_capabilities: (major, minor) per GPU; empty for TPUs and CPUs.
        memory_bytes: memory per GPU or TPU chip, or None when unknown.
        tpu_vm: whether this is a TPU VM (the chips are local devices of this machine).
    """

    kind: str
    count: int = 1
    names: tuple = ()
    compute_capabilities: tuple = ()
    memory_bytes: int | None = None
    tpu_vm: bool = False

    @property
    def has_tpu(self):
        return self.kind == "tpu"

    @property
    def has_bfloat16(self):
        """Whether the accelerator computes in bfloat16 natively: TPUs, and GPUs of compute 8.0+."""
        if self.kind == "tpu":
            return True
        if self.kind == "gpu":
            return bool(self.compute_capabilities) and min(self.compute_capabilities) >= BFLOAT16_COMPUTE_CAPABILITY
        return False

    def describe(self):
        """One line, e.g. 'gpu: 2 x Tesla T4 (compute 7.5, 15.0 GiB each)'."""
        if self.kind == "cpu":
            return f"cpu: {os.cpu_count()} cores, no accelerator"
        name = self.names[0] if self.names else self.kind.upper()
        details = []
        if self.compute_capabilities:
            details.append("compute {}.{}".format(*self.compute_capabilities[0]))
        if self.memory_bytes:
            details.append(f"{self.memory_bytes / 1024**3:.1f} GiB each")
        if self.tpu_vm:
            details.append("TPU VM")
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{self.kind}: {self.count} x {name}{suffix}"


def _root(root):
    return root or os.environ.get(DEVICE_ROOT_ENV) or "/"


def _under(root, pattern):
    return sorted(glob.glob(os.path.join(root, pattern.lstrip("/"))))


def tpu_chips(root=None):
    """TPU device files: /dev/vfio/N for v5e and v6e chips, /dev/accelN for v2 to v4."""
    root = _root(root)
    vfio = [path for path in _under(root, "/dev/vfio/*") if os.path.basename(path).isdigit()]
    return vfio or _under(root, "/dev/accel*")


def is_tpu_vm(root=None, environ=None):
    """Whether this machine is a TPU VM: Kaggle's ISTPUVM variable, or TPU device files."""
    environ = os.environ if environ is None else environ
    return environ.get("ISTPUVM") == "1" or bool(tpu_chips(root))


def _query_nvidia_smi():
    """(name, compute capability or None, memory bytes or None) per GPU, from nvidia-smi; [] without it."""
    if shutil.which("nvidia-smi") is None:
        return []
    fields = "name,compute_cap,memory.total"
    try:
        output = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [parse_nvidia_smi_line(line) for line in output.splitlines() if line.strip()]


def parse_nvidia_smi_line(line):
    """'Tesla T4, 7.5, 15360' -> ('Tesla T4', (7, 5), 15360 MiB in bytes); unknown fields are None."""
    parts = [part.strip() for part in line.split(",")]
    name = parts[0]
    capability = memory = None
    if len(parts) > 1 and "." in parts[1]:
        try:
            capability = tuple(int(number) for number in parts[1].split(".")[:2])
        except ValueError:
            capability = None
    if len(parts) > 2 and parts[2].isdigit():
        memory = int(parts[2]) * 1024**2
    return name, capability, memory


def known_compute_capability(name):
    """The compute capability of a GPU model named like 'Tesla T4' or 'NVIDIA A100-SXM4-40GB'."""
    upper = name.upper()
    for model, capability in sorted(KNOWN_COMPUTE_CAPABILITIES.items(), key=lambda item: -len(item[0])):
        if model in upper:
            return capability
    return None


def detect(root=None, environ=None, query_gpus=None):
    """Describes this machine's accelerators: a TPU VM first, then GPUs, else the CPU.

    Args:
        root: folder that stands for "/" when probing device files (tests); default
            $MONET_GAN_DEVICE_ROOT or "/".
        environ: the environment variables to read; default os.environ.
        query_gpus: callable returning (name, compute capability, memory bytes) per GPU; default
            asks nvidia-smi. Device files count the GPUs when it finds none.
    """
    environ = os.environ if environ is None else environ
    if is_tpu_vm(root, environ):
        chips = tpu_chips(root)
        kind = environ.get("TPU_ACCELERATOR_TYPE")
        count = len(chips) or (int(kind.rsplit("-", 1)[1]) if kind and kind.rsplit("-", 1)[-1].isdigit() else 8)
        return Devices("tpu", count=count, names=(kind,) if kind else (), tpu_vm=True)
    gpus = (query_gpus or _query_nvidia_smi)()
    if not gpus:
        files = [path for path in _under(_root(root), "/dev/nvidia*") if os.path.basename(path)[6:].isdigit()]
        gpus = [("GPU", None, None)] * len(files)
    if gpus:
        capabilities = tuple(capability or known_compute_capability(name) for name, capability, _ in gpus)
        memories = [memory for _, _, memory in gpus if memory]
        return Devices(
            "gpu", count=len(gpus), names=tuple(name for name, _, _ in gpus),
            compute_capabilities=capabilities if all(capabilities) else (),
            memory_bytes=min(memories) if memories else DEFAULT_GPU_MEMORY_BYTES,
        )
    return Devices("cpu")


def default_backend(machine=None, root=None, environ=None):
    """The Keras backend that can reach this machine's accelerator: "jax" on a TPU VM, else "tensorflow".

    Without `machine` only the TPU probe runs (device files and variables; no nvidia-smi).
    """
    tpu = machine.has_tpu if machine is not None else is_tpu_vm(root, environ)
    return "jax" if tpu else "tensorflow"


def configured_backend(environ=None):
    """The backend named by $KERAS_BACKEND or by Keras' keras.json, or None when neither does."""
    environ = os.environ if environ is None else environ
    if environ.get(BACKEND_ENV):
        return environ[BACKEND_ENV]
    keras_home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(keras_home, "keras.json")) as file:
            return json.load(file).get("backend") or None
    except (OSError, ValueError, AttributeError):
        return None


def choose_backend(machine=None, root=None, environ=None, modules=None):
    """Sets KERAS_BACKEND to `default_backend()` unless a backend is chosen already.

    A backend is chosen already when Keras is imported (it keeps the one it loaded with), when
    KERAS_BACKEND is set, or when keras.json names one. Returns the backend Keras uses or will use.
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "keras" in modules:
        return modules["keras"].backend.backend()
    configured = configured_backend(environ)
    if configured:
        return configured
    backend = default_backend(machine, root, environ)
    environ[BACKEND_ENV] = backend
    return backend
