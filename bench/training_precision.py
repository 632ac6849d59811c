"""Benchmark: a CycleGAN training step in mixed_bfloat16 against float32, in one run.

Run from the project root (about 3 minutes on 2 CPU cores with the defaults):
    python bench/training_precision.py [--image-size 128] [--batch-size 4] [--steps 3]

`mixed_precision="auto"` trains in mixed_bfloat16 on a CPU with native bfloat16 instructions
(see strategy.choose_dtype_policy). This measures why: the recipe's networks (ResNet-9 generator,
PatchGAN discriminators, every loss, the image pools, DiffAugment), one `model.fit` step at a
time on a fixed in-memory batch, built and timed under each policy. The first step of each
(tracing) is not timed. --image-size 64 --demo-sized times the demo's small networks instead.
"""

import argparse
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

from monet_gan import demo  # noqa: E402
from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import cyclegan  # noqa: E402
from monet_gan.training import strategy as strategy_lib  # noqa: E402


def seconds_per_step(config, policy, steps):
    """Builds the CycleGAN under `policy`, runs one untimed step, then times `steps` steps."""
    random = np.random.default_rng(0)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    batch = tuple(tf.constant(random.uniform(-1, 1, shape), tf.float32) for _ in range(2))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=10 * steps)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per policy")
    parser.add_argument("--demo-sized", action="store_true", help="the demo's small networks")
    args = parser.parse_args()
    base = demo.demo_config() if args.demo_sized else config_lib.TrainConfig()
    config = base.replace(image_size=args.image_size, batch_size=args.batch_size, seed=0)
    print(f"{os.cpu_count()} cores, native bfloat16: {strategy_lib.cpu_has_native_bfloat16()}; "
          f"{config.generator} generator, {config.generator_filters} filters, {config.image_size} px, "
          f"batch {config.batch_size}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    results = {}
    for policy in ("float32", "mixed_bfloat16"):
        results[policy] = seconds_per_step(config, policy, args.steps)
        print(f"{policy:15s} {results[policy]:7.2f} s/step "
              f"({config.batch_size / results[policy]:.2f} photo+Monet pairs/s)", flush=True)
    print(f"mixed_bfloat16 / float32 speed: {results['float32'] / results['mixed_bfloat16']:.2f}x")


if __name__ == "__main__":
    main()
