"""Benchmark: CycleGAN.train_step against a bare one-tape reference step of the same networks.

Run from the project root (a few minutes on 2 CPU cores with the defaults):
    python bench/train_step.py [--image-size 128] [--filters 32] [--blocks 6] [--batch-size 2]
                               [--rounds 3] [--steps 2]

The reference is keras-io's CycleGAN train step (A. K. Nain), written out here: one persistent
GradientTape over the four networks, LSGAN, cycle and identity losses, four Adam optimizers, the
discriminators' verdicts on the fakes shared between the generator and discriminator losses.
The project's step adds the image pools and the generator EMA (the recipe's) and uses the same
networks; DiffAugment is off on both sides, as the reference has none. Both steps are compiled
the same way (a tf.function, with or without XLA) and timed on a fixed in-memory batch in
interleaved rounds, so machine load hits them alike; the first call of each (tracing) is not
timed. Printed: images per second (photo + Monet pairs) and the project/reference time ratio.
"""

import argparse
import itertools
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

from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import cyclegan  # noqa: E402


def reference_step_function(model, jit_compile):
    """keras-io's CycleGAN step on the model's four networks, with optimizers of its own."""
    generator_g, generator_f = model.photo_to_monet, model.monet_to_photo
    discriminator_x, discriminator_y = model.photo_discriminator, model.monet_discriminator
    optimizers = [keras.optimizers.Adam(2e-4, beta_1=0.5) for _ in range(4)]
    networks = [generator_g, generator_f, discriminator_x, discriminator_y]
    for optimizer, network in zip(optimizers, networks):
        optimizer.build(network.trainable_variables)

    def mse(target, value):
        return tf.reduce_mean(tf.square(tf.cast(value, tf.float32) - target))

    def mae(a, b):
        return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))

    @tf.function(jit_compile=jit_compile)
    def step(real_x, real_y):
        with tf.GradientTape(persistent=True) as tape:
            fake_y = generator_g(real_x, training=True)
            cycled_x = generator_f(fake_y, training=True)
            fake_x = generator_f(real_y, training=True)
            cycled_y = generator_g(fake_x, training=True)
            same_x = generator_f(real_x, training=True)
            same_y = generator_g(real_y, training=True)
            disc_real_x = discriminator_x(real_x, training=True)
            disc_fake_x = discriminator_x(fake_x, training=True)
            disc_real_y = discriminator_y(real_y, training=True)
            disc_fake_y = discriminator_y(fake_y, training=True)
            cycle = 10.0 * (mae(real_x, cycled_x) + mae(real_y, cycled_y))
            loss_g = mse(1.0, disc_fake_y) + cycle + 5.0 * mae(real_y, same_y)
            loss_f = mse(1.0, disc_fake_x) + cycle + 5.0 * mae(real_x, same_x)
            loss_dx = 0.5 * (mse(1.0, disc_real_x) + mse(0.0, disc_fake_x))
            loss_dy = 0.5 * (mse(1.0, disc_real_y) + mse(0.0, disc_fake_y))
        for optimizer, network, loss in zip(optimizers, networks, (loss_g, loss_f, loss_dx, loss_dy)):
            variables = network.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss_g

    return step


def build(config, policy, jit_compile):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=1000)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    project = tf.function(lambda photos, monets: model.train_step((photos, monets)), jit_compile=jit_compile)
    return {"train_step": project, "reference": reference_step_function(model, jit_compile)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant per round")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--jit", default="off,on")
    args = parser.parse_args()
    config = config_lib.TrainConfig().replace(
        image_size=args.image_size, generator_filters=args.filters, discriminator_filters=args.filters,
        num_residual_blocks=args.blocks, batch_size=args.batch_size, diffaugment_policy="", seed=0,
    )
    print(f"{os.cpu_count()} cores; resnet generator, {args.filters} filters, {args.blocks} blocks, "
          f"{args.image_size} px, batch {args.batch_size}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    random = np.random.default_rng(0)
    shape = (args.batch_size, args.image_size, args.image_size, 3)
    photos, monets = (tf.constant(random.uniform(-1, 1, shape), tf.float32) for _ in range(2))
    settings = list(itertools.product(args.policies.split(","), [jit == "on" for jit in args.jit.split(",")]))
    steps = {setting: build(config, *setting) for setting in settings}
    for functions in steps.values():
        for function in functions.values():
            function(photos, monets)  # Tracing and compilation, untimed.
    seconds = {(setting, name): [] for setting in settings for name in ("train_step", "reference")}
    for _ in range(args.rounds):
        for setting, functions in steps.items():
            for name, function in functions.items():
                start = time.perf_counter()
                for _ in range(args.steps):
                    result = function(photos, monets)
                tf.nest.map_structure(lambda value: value.numpy(), result)
                seconds[(setting, name)].append((time.perf_counter() - start) / args.steps)
    print(f"{'policy':15s} {'jit':4s} {'train_step img/s':>17s} {'reference img/s':>16s} {'time ratio':>11s}")
    for setting in settings:
        # The median round resists a round disturbed by another process.
        ours, reference = (float(np.median(seconds[(setting, name)])) for name in ("train_step", "reference"))
        print(f"{setting[0]:15s} {'on' if setting[1] else 'off':4s} {args.batch_size / ours:17.2f} "
              f"{args.batch_size / reference:16.2f} {ours / reference:11.2f}", flush=True)


if __name__ == "__main__":
    main()
