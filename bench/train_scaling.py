"""Training throughput at 1 and 2 replicas, and with steps_per_execution 1 and 32, in one run.

    python bench/train_scaling.py                 # ~2 min on 2 CPU cores
    python bench/train_scaling.py --steps 64 --json bench_out/train_scaling.json

The CPU is split into two logical devices, as the tests do, so MirroredStrategy has two replicas
to run on. Both share the same cores, so this measures what distribution costs (the replicated
step, the all-reduce of every gradient), not a speed-up: a speed-up needs devices that compute in
parallel (TPU cores, GPUs). steps_per_execution shows how much of a step is per-call overhead:
Python, callbacks and the dispatch of one tf.function call, paid once per `k` steps.

Each configuration trains a small CycleGAN (64 px, 8 filters, 2 residual blocks, global batch 8)
on a fixed in-memory batch, so the input pipeline does not count: one warm-up epoch (tracing and
compilation), then one timed epoch.

Two replicas with 32 steps per execution are not measured: Keras 3 cannot run several steps per
call under MirroredStrategy (keras-team/keras#19246), and the trainer refuses that combination.
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402

from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import cyclegan  # noqa: E402

GLOBAL_BATCH_SIZE = 8


def bench_config(steps_per_execution):
    return config_lib.TrainConfig(
        image_size=64, generator_filters=8, num_residual_blocks=2, discriminator_filters=8,
        batch_size=GLOBAL_BATCH_SIZE, steps_per_execution=steps_per_execution, seed=0,
    )


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.started


def images_per_second(strategy, steps_per_execution, steps):
    """Trains one warm-up call, then times `steps` steps; returns images/s and s/step.

    The second fit reuses the traced train function, so the timed epoch holds no compilation.
    """
    config = bench_config(steps_per_execution)
    random = np.random.default_rng(0)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    batch = tuple(tf.constant(random.uniform(-1, 1, shape), tf.float32) for _ in range(2))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=2 * steps, steps_per_execution=steps_per_execution)
    model.fit(dataset, epochs=1, steps_per_epoch=steps_per_execution, verbose=0)
    timer = EpochTimer()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    return steps * config.batch_size / timer.seconds, timer.seconds / steps


def cpu_model_name():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32, help="timed steps per configuration (a multiple of 32)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.steps < 32 or args.steps % 32:
        raise SystemExit(f"--steps must be a positive multiple of 32, got {args.steps}")

    strategies = {
        1: tf.distribute.OneDeviceStrategy("/cpu:0"),
        2: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
    }
    rows = []
    print(f"CPU: {cpu_model_name()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"CycleGAN 64 px, 8 filters, 2 residual blocks, global batch {GLOBAL_BATCH_SIZE}, {args.steps} timed steps")
    print(f"{'replicas':>8} {'steps/execution':>16} {'images/s':>9} {'ms/step':>8}")
    for replicas, steps_per_execution in ((1, 1), (2, 1), (1, 32)):
        rate, step_seconds = images_per_second(strategies[replicas], steps_per_execution, args.steps)
        rows.append({"replicas": replicas, "steps_per_execution": steps_per_execution,
                     "images_per_second": round(rate, 2), "milliseconds_per_step": round(1000 * step_seconds, 1)})
        print(f"{replicas:>8} {steps_per_execution:>16} {rate:>9.2f} {1000 * step_seconds:>8.1f}", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as file:
            json.dump({"cpu": cpu_model_name(), "cores": os.cpu_count(), "steps": args.steps, "results": rows},
                      file, indent=2)
    best = max(rows, key=lambda row: row["images_per_second"])
    print(f"measured {len(rows)} configurations; fastest: {best['replicas']} replica(s), steps_per_execution "
          f"{best['steps_per_execution']}, {best['images_per_second']} images/s")


if __name__ == "__main__":
    main()
