"""Measurement: the quality curve's cost beside the training epoch it follows.

Run from the project root (a few minutes on 2 CPU cores with the defaults):
    python bench/quality_cost.py [--image-size 64] [--filters 32] [--batch-size 4] [--steps 12]

Trains a CPU-sized config on the real data (the shared folder beside the project) for two short
epochs with the quality curve on (256 photos, SqueezeNet weights from ../shared/weights, or
Inception's when they are in the Keras cache), then prints the median training step time, the
full epoch that implies (all 7,038 photos: photos // batch steps), the time of the second
evaluation (the first one also traces the painting function) and their ratio. docs/quality.md
quotes its numbers.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from monet_gan.data import sources  # noqa: E402
from monet_gan.metrics import quality  # noqa: E402
from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import train as train_lib  # noqa: E402

DATA = PROJECT_ROOT.parent / "shared" / "data" / "gan-getting-started"
WEIGHTS = PROJECT_ROOT.parent / "shared" / "weights"


class StepTimes(keras.callbacks.Callback):
    """The wall time of every training step of the last epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.times = [time.perf_counter()]

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--residual-blocks", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--photos", type=int, default=256)
    args = parser.parse_args()
    photos, monets = str(DATA / "photo_jpg"), str(DATA / "monet_tfrec")
    config = config_lib.TrainConfig(
        image_size=args.image_size, generator_filters=args.filters,
        num_residual_blocks=args.residual_blocks, discriminator_filters=args.filters,
        batch_size=args.batch_size, epochs=2, steps_per_epoch=args.steps, seed=0,
        quality_photo_count=args.photos, feature_weights=str(WEIGHTS), ema_decay=0.99,
    )
    steps = StepTimes()
    with tempfile.TemporaryDirectory() as run_dir:
        curve = quality.quality_callback(config, photos, monets, run_dir)
        train_lib.train(config, run_dir, photo_source=photos, monet_source=monets, verbose=0,
                        callbacks=[curve, steps])
    # The first two steps of an epoch wait for the input pipeline to refill; they are left out.
    step_seconds = float(np.median(np.diff(steps.times)[2:]))
    epoch_steps = sources.count_images(photos) // args.batch_size
    epoch_seconds = step_seconds * epoch_steps
    evaluation_seconds = curve.seconds[-1]
    print(f"config: {args.image_size} px, ResNet-{args.residual_blocks} with {args.filters} filters, "
          f"batch {args.batch_size}, {curve.network.name} features, {args.photos} photos")
    print(f"training step {step_seconds:.3f} s -> one epoch of {epoch_steps} steps {epoch_seconds:.0f} s")
    print(f"evaluations: {', '.join(f'{seconds:.1f} s' for seconds in curve.seconds)}; "
          f"the last is {100 * evaluation_seconds / epoch_seconds:.2f}% of an epoch")


if __name__ == "__main__":
    main()
