"""Choosing where training runs: TPU, several machines, several GPUs, one GPU, or the CPU.

Everything that holds variables (networks, optimizers, image pools) must be created inside the
chosen strategy's `scope()`, and the global batch is split evenly across its replicas.

Under TensorFlow this is a tf.distribute strategy. Under JAX (KERAS_BACKEND=jax, the only way to
Kaggle's TPU VM today) it is a JaxDataParallel: keras.distribution.DataParallel over every JAX
device, which replicates the variables and splits the global batch along its first axis; fit
runs inside `fit_scope(strategy)` so that Keras' JAX trainer shards the data and the state.
"""

import contextlib
import glob
import json
import os
import re

import keras
import tensorflow as tf

from monet_gan import devices
from monet_gan.errors import UserError

STRATEGY_CHOICES = ("auto", "tpu", "multiworker", "gpus", "cpu")
# /proc/cpuinfo flags of CPUs that compute in bfloat16 natively rather than by emulation.
CPU_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def _tpu_names():
    """The TPU addresses worth trying, most specific first."""
    names = []
    # Older Kaggle TPU nodes (and Colab) name a remote TPU in TPU_NAME.
    if os.environ.get("TPU_NAME"):
        names.append(os.environ["TPU_NAME"])
    # On a TPU VM the chips are local devices of this machine.
    if glob.glob("/dev/accel*") or os.environ.get("TPU_ACCELERATOR_TYPE"):
        names.append("local")
    return names


def _connect_tpu():
    for name in _tpu_names():
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver.connect(tpu=name)
        except (ValueError, tf.errors.OpError, RuntimeError):
            continue
        return tf.distribute.TPUStrategy(resolver)
    return None


def _parse_tf_config():
    """The TF_CONFIG cluster description, or None when unset. A bad one is a UserError."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    if not isinstance(tf_config, dict) or "cluster" not in tf_config or "task" not in tf_config:
        raise UserError(
            f"TF_CONFIG needs 'cluster' and 'task' entries, found {text!r}. Example: "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    return tf_config


def unreachable_tpu_problem(machine=None, backend=None):
    """Why this machine's TPU cannot be used from the Keras backend in use, or None when it can.

    Kaggle's TPU VM image has tensorflow-cpu, which sees no TPU, and jax[tpu], which does. Training
    on the host CPU beside an idle TPU would take days, so the mismatch is an error, not a fallback.
    """
    if machine is None:
        if not devices.is_tpu_vm():  # Cheap file probes first: no nvidia-smi on every call.
            return None
        machine = devices.detect()
    if not machine.has_tpu:
        return None
    backend = backend or keras.backend.backend()
    if backend == "jax":
        import jax

        if any(device.platform == "tpu" for device in jax.devices()):
            return None
        found = ", ".join(sorted({device.platform for device in jax.devices()}))
        return (
            f"This machine has a TPU ({machine.describe()}) but JAX sees only {found} devices: "
            "jax[tpu] and libtpu are missing, or another process holds the TPU. Restart the "
            "session (Run -> Restart & clear outputs) so that nothing else uses it."
        )
    if tf.config.list_physical_devices("TPU") or os.environ.get("TPU_NAME"):
        return None
    return (
        f"This machine has a TPU ({machine.describe()}) but Keras runs on the {backend} backend, "
        "which cannot reach it here (Kaggle's TPU image has tensorflow-cpu). Set "
        "KERAS_BACKEND=jax before anything imports keras: restart the kernel and import "
        "monet_gan first (it chooses JAX on a TPU VM), or run `KERAS_BACKEND=jax python -m monet_gan ...`."
    )


class JaxDataParallel:
    """keras.distribution.DataParallel over JAX devices, with the parts of a tf.distribute
    strategy the trainer reads: `num_replicas_in_sync` and `scope()`.

    One device needs no distribution: its scope is empty, as TensorFlow's default strategy's is.
    """

    def __init__(self, devices):
        if not devices:
            raise ValueError("JaxDataParallel needs at least one device, got none.")
        self.devices = list(devices)
        self.num_replicas_in_sync = len(self.devices)
        self.platform = self.devices[0].platform
        self.distribution = (
            keras.distribution.DataParallel(devices=self.devices) if len(self.devices) > 1 else None
        )

    def scope(self):
        return self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()


def fit_scope(strategy):
    """The context `model.fit` runs in: the JAX distribution, or nothing (tf.distribute models keep theirs)."""
    return strategy.scope() if isinstance(strategy, JaxDataParallel) else contextlib.nullcontext()


def _get_jax_strategy(kind):
    import jax

    if kind == "multiworker":
        raise UserError("Multi-worker training needs the tensorflow backend (tf.distribute); use --backend tensorflow.")
    devices = jax.devices()
    platform = devices[0].platform
    if kind == "tpu" and platform != "tpu":
        raise UserError(f"A TPU was asked for but JAX sees {platform} devices only. On Kaggle, choose "
                        "Settings -> Accelerator -> TPU VM.")
    if kind == "gpus" and platform != "gpu":
        raise UserError(f"GPUs were asked for but JAX sees {platform} devices only.")
    if kind == "cpu":
        devices = jax.devices("cpu")
    return JaxDataParallel(devices)


def get_strategy(kind="auto", verbose=True):
    """Returns the tf.distribute strategy for this machine.

    Args:
        kind: "auto" picks, in order, a TPU, several machines (TF_CONFIG), several GPUs, one
            GPU, then the CPU. "tpu", "multiworker", "gpus" and "cpu" insist on one and fail
            with a UserError naming what was found when it is not there.
        verbose: print the choice and the replica count.
    """
    if kind not in STRATEGY_CHOICES:
        raise ValueError(f"Unknown strategy {kind!r}; expected one of {STRATEGY_CHOICES}.")
    problem = unreachable_tpu_problem() if kind in ("auto", "tpu") else None
    if problem:
        raise UserError(problem)
    if keras.backend.backend() == "jax":
        strategy = _get_jax_strategy(kind)
        if verbose:
            print(f"strategy: {describe(strategy)}")
        return strategy
    strategy = None
    gpus = tf.config.list_physical_devices("GPU")
    if kind in ("auto", "tpu"):
        strategy = _connect_tpu()
        if strategy is None and kind == "tpu":
            raise UserError(
                "A TPU was asked for but none was found (no TPU_NAME, no /dev/accel* device). "
                "On Kaggle, choose Settings -> Accelerator -> TPU VM."
            )
    if strategy is None and kind in ("auto", "multiworker"):
        if _parse_tf_config() is not None:
            # Ring all-reduce over gRPC is what CPU-only workers have; with GPUs, AUTO picks NCCL.
            implementation = tf.distribute.experimental.CommunicationImplementation
            options = tf.distribute.experimental.CommunicationOptions(
                implementation=implementation.AUTO if gpus else implementation.RING
            )
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        elif kind == "multiworker":
            raise UserError("A multi-worker run needs TF_CONFIG describing the cluster; it is unset.")
    if strategy is None and kind in ("auto", "gpus"):
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy()
        elif len(gpus) == 1:
            strategy = tf.distribute.OneDeviceStrategy("/gpu:0")
        elif kind == "gpus":
            raise UserError("GPUs were asked for but TensorFlow sees none.")
    if strategy is None:
        strategy = tf.distribute.get_strategy()
    if verbose:
        print(f"strategy: {describe(strategy)}")
    return strategy


def describe(strategy):
    """A one-line description, e.g. 'TPUStrategy with 8 replicas'."""
    replicas = strategy.num_replicas_in_sync
    if isinstance(strategy, JaxDataParallel):
        return f"JAX DataParallel over {replicas} {strategy.platform} device{'s' if replicas != 1 else ''}"
    return f"{type(strategy).__name__} with {replicas} replica{'s' if replicas != 1 else ''}"


def is_tpu(strategy):
    if isinstance(strategy, JaxDataParallel):
        return strategy.platform == "tpu"
    return isinstance(strategy, tf.distribute.TPUStrategy)


def cpu_has_native_bfloat16():
    """Whether this machine's CPU reports bfloat16 instructions (Linux only; False elsewhere)."""
    try:
        with open("/proc/cpuinfo") as file:
            flags = set(re.findall(r"[a-z0-9_]+", file.read()))
    except OSError:
        return False
    return any(flag in flags for flag in CPU_BFLOAT16_FLAGS)


def on_bfloat16_cpu(strategy):
    """Whether `strategy` computes on CPUs (no TPU, no GPU) that have native bfloat16 instructions."""
    if isinstance(strategy, JaxDataParallel):
        return strategy.platform == "cpu" and cpu_has_native_bfloat16()
    return (
        not is_tpu(strategy)
        and not tf.config.list_logical_devices("GPU")
        and cpu_has_native_bfloat16()
    )


def gpu_compute_capabilities():
    """(major, minor) of every GPU TensorFlow sees; GPUs that do not report one are left out."""
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability:
            capabilities.append(tuple(capability))
    return capabilities


def gpu_half_policy(capabilities):
    """"mixed_bfloat16" on GPUs that all compute in bfloat16 (compute 8.0+), else "mixed_float16".

    T4 (7.5) and P100 (6.0), Kaggle's GPUs, have float16 units but no bfloat16 ones; float16's
    narrow range needs loss scaling in the train step.
    """
    if capabilities and min(capabilities) >= devices.BFLOAT16_COMPUTE_CAPABILITY:
        return "mixed_bfloat16"
    return "mixed_float16"


def _on_jax_tpu():
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "tpu"


def choose_dtype_policy(strategy, setting="auto"):
    """The Keras dtype policy a run trains under: "mixed_bfloat16", "mixed_float16" or "float32".

    "off" chooses float32; "on" and "auto" a mixed policy: on GPUs the one their units compute
    fast (`gpu_half_policy`: mixed_float16 on Kaggle's T4 and P100, with about half the
    activation memory of float32 and the T4's tensor cores), elsewhere mixed_bfloat16. "auto"
    keeps float32 where half precision is not faster: it is mixed on GPUs, on TPUs (bfloat16
    matrix units, no loss scaling needed) and on CPUs with native bfloat16 instructions
    (AVX512_BF16, AMX), where a 128 px ResNet CycleGAN step measured 2.1x faster than in
    float32. Either way the networks keep normalization statistics, losses and the generators'
    outputs in float32.
    """
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"setting must be 'auto', 'on' or 'off', got {setting!r}")
    if setting == "off":
        return "float32"
    on_gpus = not is_tpu(strategy) and bool(tf.config.list_logical_devices("GPU"))
    if on_gpus:
        return gpu_half_policy(gpu_compute_capabilities())
    if setting == "on" or is_tpu(strategy) or _on_jax_tpu() or on_bfloat16_cpu(strategy):
        return "mixed_bfloat16"
    return "float32"


@contextlib.contextmanager
def dtype_policy(strategy, setting="auto"):
    """Networks built inside the block compute under `choose_dtype_policy`; yields its name.

    Layers keep the policy they were built with, so the caller's global policy is restored on
    leaving the block: a notebook that trains and then builds other models is not left in
    bfloat16.
    """
    previous = keras.mixed_precision.global_policy()
    policy = choose_dtype_policy(strategy, setting)
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(previous)


def check_steps_per_execution(steps_per_execution, strategy):
    """Several steps per call work on TPUs and on one device; elsewhere they are a UserError.

    Keras 3 runs the steps of one call in a tf.while_loop around a tf.cond; with the merge calls
    of MirroredStrategy and MultiWorkerMirroredStrategy inside that cond the graph fails with
    "You must feed a value for placeholder tensor" (keras-team/keras#19246).
    """
    multi_replica_tf = not isinstance(strategy, JaxDataParallel) and strategy.num_replicas_in_sync > 1
    if steps_per_execution > 1 and not is_tpu(strategy) and multi_replica_tf:
        raise UserError(
            f"steps_per_execution={steps_per_execution} does not work with {describe(strategy)} in "
            "Keras 3 (keras-team/keras#19246); use --steps-per-execution 1 there (TPUs and single "
            "devices take more)."
        )
    return steps_per_execution


def check_global_batch(global_batch_size, strategy):
    """The per-replica batch size; a global batch the replicas cannot share evenly is a UserError."""
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise UserError(
            f"The global batch size {global_batch_size} is not divisible by the "
            f"{replicas} replicas of {describe(strategy)}; use a multiple of {replicas}."
        )
    return global_batch_size // replicas
