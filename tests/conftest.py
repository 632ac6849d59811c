"""Shared fixtures: the real competition data when present, two logical CPU devices, backends.

TensorFlow fixes its device list on first use, so the split of the one physical CPU into two
logical devices (what MirroredStrategy tests need) happens here, before any test runs.

Test modules marked `backend_agnostic` run under KERAS_BACKEND=tensorflow and =jax; their
TensorFlow-only tests (tf.GradientTape, tf.distribute, tf.data, tf.train.Checkpoint) carry the
`tensorflow_only` skip. `input_gradient` and `compiled` give the same test on either backend.
"""

import functools
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from monet_gan.generation import trained_generator
from monet_gan.training import config as config_lib

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "gan-getting-started"
SHARED_WEIGHTS = PROJECT_ROOT.parent / "shared" / "weights"

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


BACKEND = keras.backend.backend()

tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TensorFlow-only by nature (tape, tf.distribute, tf.data, tf checkpoints)"
)


def input_gradient(function, inputs, upstream):
    """The gradient of sum(function(inputs) * upstream) with respect to `inputs`, as numpy.

    `upstream` stands for the gradient arriving from the rest of a network; a random one
    checks every output element's share of the gradient.
    """
    inputs = np.asarray(inputs, dtype="float32")
    upstream = np.asarray(upstream, dtype="float32")
    if BACKEND == "jax":
        import jax

        def loss(values):
            return jax.numpy.sum(function(values) * upstream)

        return np.asarray(jax.grad(loss)(jax.numpy.asarray(inputs)))
    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(function(inputs) * upstream)
    return tape.gradient(loss, inputs).numpy()


def compiled(function, jit_compile=True):
    """`function` compiled on the current backend: jax.jit, or tf.function(jit_compile=...).

    JAX always compiles with XLA. TensorFlow's stateless random ops, as Keras calls them, draw
    other numbers under XLA than without it, so a test that compares a compiled function with
    an eager one on TensorFlow passes jit_compile=False.
    """
    if BACKEND == "jax":
        import jax

        return jax.jit(function)
    return tf.function(function, jit_compile=jit_compile)


@pytest.fixture(scope="session")
def shared_data():
    """The real competition files beside the project, or a skip that says why."""
    if not (SHARED_DATA / "monet_jpg").is_dir():
        pytest.skip(f"real competition data not found at {SHARED_DATA} (present in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_weights():
    """The SqueezeNet v1.1 ImageNet weights beside the project, or a skip that says why."""
    path = SHARED_WEIGHTS / "squeezenet_v1.1_imagenet_notop.h5"
    if not path.is_file():
        pytest.skip(f"SqueezeNet weights not found at {path} (present in CI)")
    return path


@functools.lru_cache(maxsize=None)
def two_cpu_strategy():
    """One MirroredStrategy over the two logical CPUs, shared by every test in the session.

    Each MirroredStrategy numbers its collective operations from the same starting keys, so two
    of them in one process can pair up unrelated all-reduces and fail with a shape mismatch.
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def spread_outputs(model):
    """Gives a generator's paintings real contrast, so that comparing pixels means something.

    The papers' N(0, 0.02) initialization paints nearly flat grey; unit gammas and a larger
    output layer spread the outputs over the whole range.
    """
    for layer in model.layers:
        if "norm" in layer.name:
            layer.gamma.assign(tf.ones_like(layer.gamma))
    output_convolution = model.get_layer("output_conv")
    output_convolution.kernel.assign(output_convolution.kernel * 20.0)


def tiny_run_config():
    """The config of a 64 px ResNet small enough to build in a second."""
    return config_lib.TrainConfig.smoke(
        image_size=64, generator="resnet", generator_filters=4, num_residual_blocks=1
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A hand-made run directory: config.json, the live export and a different EMA export."""
    directory = tmp_path_factory.mktemp("run")
    tiny_run_config().to_json(str(directory / "config.json"))
    live = trained_generator.generator_from_config(str(directory / "config.json"))
    live.save(str(directory / "photo_to_monet.keras"))
    ema = trained_generator.generator_from_config(str(directory / "config.json"))
    spread_outputs(ema)
    ema.save(str(directory / "photo_to_monet_ema.keras"))
    return str(directory), live, ema
