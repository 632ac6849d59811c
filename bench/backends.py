"""Benchmark: the training step and the painting forward pass under JAX against TensorFlow.

Run from the project root (a few minutes on 2 CPU cores with the defaults):
    python bench/backends.py [--image-size 64] [--filters 16] [--blocks 3] [--batch-size 2]
                             [--paint-batch 8] [--rounds 3] [--steps 2]

Keras fixes its backend at import, so each backend runs in a worker process of its own; both
build the same networks from the same config and seed, compile once (untimed), then time on
command, so that the rounds interleave (TensorFlow, JAX, TensorFlow, ...) and machine load hits
both alike. Each worker compiles the step the way its trainer does: TensorFlow a tf.function of
CycleGAN.train_step (no XLA, the project's CPU default), JAX a jax.jit of train_step(state, data).

It also prints a projection, not a measurement, of the recipe's training time on a TPU v5e-8:
the networks' convolution FLOPs (counted from the layers' shapes), three times the forward cost
for a training pass, the recipe's steps, and 8 chips x 197 TFLOP/s (Google's published bf16 peak
per v5e chip), at full peak (a floor no run reaches) and at an assumed 35% utilization.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

V5E_PEAK_BF16_FLOPS = 197e12
V5E_CHIPS = 8
ASSUMED_UTILIZATION = 0.35


def _config(args):
    from monet_gan.training import config as config_lib

    return config_lib.TrainConfig().replace(
        image_size=args.image_size, generator_filters=args.filters, discriminator_filters=args.filters,
        num_residual_blocks=args.blocks, batch_size=args.batch_size, seed=0, mixed_precision="off",
    )


def worker(args):
    """Builds, compiles, says "ready", then answers "train N" / "paint N" with seconds per call."""
    import keras
    import numpy as np

    from monet_gan.training import cyclegan

    config = _config(args)
    keras.utils.set_random_seed(0)
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=1000)
    random = np.random.default_rng(0)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    data = tuple(random.uniform(-1, 1, shape).astype("float32") for _ in range(2))
    photos = random.uniform(-1, 1, (args.paint_batch, *shape[1:])).astype("float32")
    if keras.backend.backend() == "jax":
        import jax

        from monet_gan.training import jax_training

        state = [tuple([v.value for v in group] for group in jax_training.state_variables(model))]
        step = jax.jit(model.train_step)
        generator = model.photo_to_monet
        weights = ([v.value for v in generator.trainable_variables], [v.value for v in generator.non_trainable_variables])
        paint_function = jax.jit(lambda w, x: generator.stateless_call(w[0], w[1], x, training=False)[0])

        def train():
            logs, state[0] = step(state[0], data)
            jax.block_until_ready(logs)

        def paint():
            jax.block_until_ready(paint_function(weights, photos))
    else:
        import tensorflow as tf

        step = tf.function(lambda batch: model.train_step(batch))
        paint_function = tf.function(lambda x: model.photo_to_monet(x, training=False))

        def train():
            tf.nest.map_structure(lambda value: value.numpy(), step(data))

        def paint():
            paint_function(photos).numpy()

    actions = {"train": train, "paint": paint}
    for action in actions.values():
        action()  # Compilation, untimed.
    print("ready", flush=True)
    for line in sys.stdin:
        name, count = line.split()
        start = time.perf_counter()
        for _ in range(int(count)):
            actions[name]()
        print(json.dumps((time.perf_counter() - start) / int(count)), flush=True)


def convolution_flops(model, image_size):
    """Multiply-adds x 2 of every Conv2D / Conv2DTranspose of a functional model, per image."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += convolution_flops(layer, image_size)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            kernel = layer.kernel.shape  # (kh, kw, in, out) for Conv2D; (kh, kw, out, in) transposed.
            positions = (layer.input.shape[1] * layer.input.shape[2] if isinstance(layer, keras.layers.Conv2DTranspose)
                         else layer.output.shape[1] * layer.output.shape[2])
            total += 2 * positions * kernel[0] * kernel[1] * kernel[2] * kernel[3]
    return total


def tpu_projection():
    """The recipe's training FLOPs and the v5e-8 time they take at peak and at an assumed utilization."""
    from monet_gan.networks import discriminators
    from monet_gan.networks import generators
    from monet_gan.training import config as config_lib

    config = config_lib.TrainConfig()
    generator = generators.build_generator(
        architecture=config.generator, image_size=config.image_size, filters=config.generator_filters,
        num_residual_blocks=config.num_residual_blocks, dropout_rate=config.dropout_rate, name="generator",
    )
    discriminator = discriminators.build_discriminator(config.image_size, config.discriminator_filters, name="d")
    generator_flops = convolution_flops(generator, config.image_size)
    discriminator_flops = convolution_flops(discriminator, config.image_size)
    # Six generator and six discriminator passes per image, each trained (forward + backward = 3x).
    step_flops_per_image = 3 * 6 * (generator_flops + discriminator_flops)
    steps = config.epochs * (7038 // config.batch_size)
    total = step_flops_per_image * steps * config.batch_size
    peak = V5E_CHIPS * V5E_PEAK_BF16_FLOPS
    return {
        "generator_gflops": generator_flops / 1e9, "discriminator_gflops": discriminator_flops / 1e9,
        "steps": steps, "total_pflops": total / 1e15,
        "minutes_at_peak": total / peak / 60, "minutes_at_assumed": total / (peak * ASSUMED_UTILIZATION) / 60,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--paint-batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed calls per action per round")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.worker:
        return worker(args)

    backends = ("tensorflow", "jax")
    command = [sys.executable, __file__, "--worker"] + sys.argv[1:]
    workers = {}
    for backend in backends:
        environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        workers[backend] = subprocess.Popen(command, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            text=True, cwd=PROJECT_ROOT)
        # One at a time, so the two compilations do not share the cores.
        line = workers[backend].stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"the {backend} worker failed to start: {line!r}")
    seconds = {(backend, action): [] for backend in backends for action in ("train", "paint")}
    for _ in range(args.rounds):
        for action in ("train", "paint"):
            for backend in backends:
                workers[backend].stdin.write(f"{action} {args.steps}\n")
                workers[backend].stdin.flush()
                seconds[(backend, action)].append(float(workers[backend].stdout.readline()))
    for process in workers.values():
        process.stdin.close()
        process.wait()

    import numpy as np

    print(f"{os.cpu_count()} cores; resnet generator, {args.filters} filters, {args.blocks} blocks, "
          f"{args.image_size} px; train batch {args.batch_size}, paint batch {args.paint_batch}; float32")
    for action, batch in (("train", args.batch_size), ("paint", args.paint_batch)):
        tensorflow, jax = (float(np.median(seconds[(backend, action)])) for backend in backends)
        print(f"{action:5s}  tensorflow {batch / tensorflow:8.2f} img/s   jax {batch / jax:8.2f} img/s   "
              f"jax/tensorflow speed {tensorflow / jax:5.2f}x")
    projection = tpu_projection()
    print("PROJECTION (arithmetic, not a measurement) of the recipe on a TPU v5e-8: "
          f"generator {projection['generator_gflops']:.1f} GFLOP, discriminator "
          f"{projection['discriminator_gflops']:.1f} GFLOP per 256 px image forward; "
          f"{projection['steps']} steps x 32 images = {projection['total_pflops']:.0f} PFLOP; "
          f"{projection['minutes_at_peak']:.1f} min at the 8 x 197 TFLOP/s bf16 peak, "
          f"{projection['minutes_at_assumed']:.1f} min at an assumed {ASSUMED_UTILIZATION:.0%} utilization.")


if __name__ == "__main__":
    main()
