"""Painting: a generator turns batches of photos into JPEG bytes, inside one graph function.

The photos are painted (on every replica of a TPU or of several GPUs when a distribution strategy
is active), converted to 256x256 uint8 and JPEG-encoded in the graph; only the JPEG bytes reach
Python. `computing_in` chooses the arithmetic (float32 or bfloat16) without copying the weights.

Under the JAX backend the painting is a jitted `stateless_call` of the generator on the JAX
devices (the batch split across them when there are several); the pixels come back to the host,
where TensorFlow encodes the JPEGs, as on a TPU under TensorFlow.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from monet_gan.training import strategy as strategy_lib

# Kaggle's image size for images.zip.
OUTPUT_SIZE = 256

# Photos per step across all replicas: 4 per core of a TPU v3-8. On a CPU, bench/submission.py
# measured batches of 32 a little faster than batches of 8.
DEFAULT_BATCH_SIZE = 32
DEFAULT_QUALITY = 95
# On a CPU, XLA painted at 0.5-0.75x the speed of TensorFlow's own (oneDNN) kernels in
# bench/submission.py; TPUs compile the replica function with XLA whatever this says.
DEFAULT_JIT_COMPILE = False
# "auto" paints in bfloat16 on a CPU with native bfloat16 instructions (AVX512_BF16 or AMX), which
# bench/submission.py measured at 1.7x (ResNet) to 2x (U-Net) the float32 speed, and in float32
# everywhere else: without those instructions bfloat16 is emulated and slower, and accelerators
# are fast anyway. The pixels move by about one level in 255 on average.
PRECISIONS = ("auto", "float32", "bfloat16")


# ---------------------------------------------------------------------------------------------
# Precision.


def resolve_precision(precision, strategy):
    """The precision to paint in: "float32" or "bfloat16"; see PRECISIONS."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    on_one_bfloat16_cpu = strategy.num_replicas_in_sync == 1 and strategy_lib.on_bfloat16_cpu(strategy)
    return "bfloat16" if on_one_bfloat16_cpu else "float32"


@contextlib.contextmanager
def computing_in(model, policy):
    """Inside the block, the model's layers compute under `policy`, e.g. "mixed_bfloat16".

    The variables stay float32; only the arithmetic changes, so nothing is copied. The output
    layer keeps its own policy, so the paintings still come out as float32. Graph functions must be
    traced inside the block. The layers' policies are restored on leaving it.
    """
    saved = [(layer, layer.dtype_policy) for layer in model.layers]
    try:
        for layer in model.layers[:-1]:
            layer.dtype_policy = policy
        yield model
    finally:
        for layer, layer_policy in saved:
            layer.dtype_policy = layer_policy


# ---------------------------------------------------------------------------------------------
# Painting and encoding, inside the graph.


def to_output_pixels(paintings, output_size=OUTPUT_SIZE):
    """Generator outputs in [-1, 1] -> float32 whole numbers in [0, 255], resized if needed.

    The pixels stay float32 until they reach the host: TPUs handle float32 best.
    """
    paintings = tf.cast(paintings, tf.float32)
    if paintings.shape[1] != output_size or paintings.shape[2] != output_size:
        paintings = tf.image.resize(
            paintings, [output_size, output_size], method="bilinear", antialias=True
        )
    return tf.round(tf.clip_by_value((paintings + 1.0) * 127.5, 0.0, 255.0))


def encode_jpegs(images, quality=DEFAULT_QUALITY):
    """uint8 (B, H, W, 3) -> (B,) JPEG strings; the images are encoded in parallel."""

    def encode(image):
        return tf.io.encode_jpeg(image, format="rgb", quality=quality)

    return tf.map_fn(encode, images, fn_output_signature=tf.string, parallel_iterations=16)


def make_paint_step(model, strategy, quality=DEFAULT_QUALITY, jit_compile=DEFAULT_JIT_COMPILE):
    """A tf.function from one (names, images, valid) batch to (names, JPEG strings, valid).

    With several replicas the batch is a distributed value: each replica paints its share with
    `strategy.run`, and the shares are gathered on the host, where JPEG encoding runs (TPUs cannot
    encode). The names never leave the host.
    """
    if keras.backend.backend() == "jax":
        return make_jax_paint_step(model, strategy, quality)
    distributed = strategy.num_replicas_in_sync > 1

    @tf.function(jit_compile=jit_compile)
    def paint(images):
        return to_output_pixels(model(images, training=False))

    def gather(value):
        if not distributed:
            return value
        return tf.concat(strategy.experimental_local_results(value), axis=0)

    @tf.function
    def step(names, images, valid):
        painted = strategy.run(paint, args=(images,)) if distributed else paint(images)
        jpegs = encode_jpegs(tf.cast(gather(painted), tf.uint8), quality)
        return gather(names), jpegs, gather(valid)

    return step


def to_output_pixels_keras(paintings, output_size=OUTPUT_SIZE):
    """`to_output_pixels` in keras.ops, for the JAX devices."""
    ops = keras.ops
    paintings = ops.cast(paintings, "float32")
    if paintings.shape[1] != output_size or paintings.shape[2] != output_size:
        paintings = ops.image.resize(
            paintings, (output_size, output_size), interpolation="bilinear", antialias=True
        )
    return ops.round(ops.clip((paintings + 1.0) * 127.5, 0.0, 255.0))


def make_jax_paint_step(model, strategy, quality=DEFAULT_QUALITY):
    """The JAX counterpart of `make_paint_step`: paints on the JAX devices, encodes on the host.

    The weights are read once (a generator does not change while it paints). With several
    devices the batch is placed split along its first axis and the weights replicated, so the
    jitted function runs on all of them.
    """
    import jax

    devices = getattr(strategy, "devices", None) or jax.devices()[:1]
    if len(devices) > 1:
        mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
        batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    else:
        batch_sharding = replicated = jax.sharding.SingleDeviceSharding(devices[0])
    trainable = [jax.device_put(variable.value, replicated) for variable in model.trainable_variables]
    non_trainable = [jax.device_put(variable.value, replicated) for variable in model.non_trainable_variables]

    @jax.jit
    def paint(trainable, non_trainable, images):
        paintings, _ = model.stateless_call(trainable, non_trainable, images, training=False)
        return to_output_pixels_keras(paintings)

    def step(names, images, valid):
        images = jax.device_put(np.asarray(images, dtype="float32"), batch_sharding)
        pixels = np.asarray(paint(trainable, non_trainable, images)).astype("uint8")
        return names, encode_jpegs(tf.constant(pixels), quality), valid

    return step
