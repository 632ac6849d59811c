"""Benchmark: the fused instance normalization against separate moment ops, in the real networks.

Run from the project root (about 5 minutes on 2 CPU cores with the defaults):
    python bench/instance_norm.py [--generator resnet|unet] [--image-size 256] [--rounds 3]

InstanceNormalization takes the fused batch-normalization kernel, one sample at a time, whenever
the batch size is known, and separate mean, variance and affine ops otherwise (see layers.py).
This measures both paths in the same process, on the same random weights and inputs, in the two
places the networks run:

  painting: the default generator, batched, bfloat16 where the CPU has native instructions
            (what submit.py does), else float32;
  training: one gradient step of the generator and the discriminator on a batch, float32
            (forward and backward through every normalization), as the trainer's step does.

The general path is forced by making `_can_fuse` answer False. Rounds alternate the two paths,
so other load on a shared machine falls on both; the best round of each is reported.
"""

import argparse
import contextlib
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from monet_gan.generation import painting  # noqa: E402
from monet_gan.networks import discriminators  # noqa: E402
from monet_gan.networks import generators  # noqa: E402
from monet_gan.networks import layers  # noqa: E402
from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import strategy as strategy_lib  # noqa: E402


@contextlib.contextmanager
def general_path():
    """Inside the block, every InstanceNormalization uses separate moment ops."""
    can_fuse = layers.InstanceNormalization._can_fuse
    layers.InstanceNormalization._can_fuse = lambda self, inputs: False
    try:
        yield
    finally:
        layers.InstanceNormalization._can_fuse = can_fuse


def make_painting(generator, precision, images):
    """A traced painting function: seconds to paint `images` once."""
    arithmetic = painting.computing_in(generator, "mixed_bfloat16") \
        if precision == "bfloat16" else contextlib.nullcontext()
    with arithmetic:

        @tf.function
        def paint(batch):
            return generator(batch, training=False)

        paint(images).numpy()
    return timer(paint, images)


def make_training(generator, discriminator, images):
    """A traced gradient step of both networks: seconds for one step."""
    optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
    variables = generator.trainable_variables + discriminator.trainable_variables
    optimizer.build(variables)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            fakes = generator(batch, training=True)
            verdicts = discriminator(fakes, training=True)
            loss = tf.reduce_mean(tf.square(verdicts - 1.0)) + tf.reduce_mean(tf.abs(fakes - batch))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    step(images).numpy()
    return timer(step, images)


def timer(function, argument):
    """A function that calls `function(argument)` once and returns the seconds it took."""
    def run():
        start = time.perf_counter()
        function(argument).numpy()
        return time.perf_counter() - start

    return run


def main():
    defaults = config_lib.TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", choices=config_lib.GENERATOR_ARCHITECTURES, default=defaults.generator)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--paint-batch", type=int, default=painting.DEFAULT_BATCH_SIZE)
    parser.add_argument("--train-batch", type=int, default=4, help="per replica: 4 per TPU v3-8 core")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    generator = generators.build_generator(
        args.generator, image_size=args.image_size, filters=defaults.generator_filters,
        num_residual_blocks=defaults.num_residual_blocks, name="photo_to_monet",
    )
    discriminator = discriminators.build_discriminator(
        image_size=args.image_size, filters=defaults.discriminator_filters, name="monet_discriminator",
    )
    rng = np.random.default_rng(0)
    paint_images = tf.constant(rng.uniform(-1, 1, (args.paint_batch, args.image_size, args.image_size, 3)),
                               tf.float32)
    train_images = paint_images[:args.train_batch]
    precision = "bfloat16" if strategy_lib.cpu_has_native_bfloat16() else "float32"
    print(f"{args.generator} generator at {args.image_size} px; painting: {precision}, batch "
          f"{args.paint_batch}; training: float32, batch {args.train_batch}; {os.cpu_count()} cores")

    methods = {}
    for path, context in (("fused", contextlib.nullcontext), ("general", general_path)):
        with context():
            methods[("painting", path)] = make_painting(generator, precision, paint_images)
            methods[("training", path)] = make_training(generator, discriminator, train_images)
    best = {}
    for round_index in range(args.rounds):
        for (task, path), run in methods.items():
            seconds = run()
            best[(task, path)] = min(seconds, best.get((task, path), float("inf")))
            print(f"round {round_index + 1} {task} {path}: {seconds:6.2f} s", flush=True)

    print("\nbest round:")
    for task, images in (("painting", args.paint_batch), ("training", args.train_batch)):
        fused, general = best[(task, "fused")], best[(task, "general")]
        print(f"  {task}: fused {images / fused:6.2f} images/s, general {images / general:6.2f} images/s, "
              f"fused/general {general / fused:.2f}x")


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    main()
