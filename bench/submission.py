"""Benchmark: images.zip end to end against the bare forward pass and Kaggle's tutorial loop.

Run from the project root (a few minutes on 2 CPU cores with the defaults):
    python bench/submission.py [--count 64] [--generator resnet|unet] [--batch-sizes 32]
                               [--photos DIR] [--all-variants]

Everything is measured in one process on the same first --count photos at 256 px, with the
default generator of TrainConfig (the ResNet; --generator unet for the tutorial's U-Net) at random
initialization: the speed of a network does not depend on the values of its weights.

  (1) forward: the generator alone, batched, in a tf.function, on photos already decoded into
      memory: the ceiling for (2). Measured in float32, float32 with XLA and, on CPUs with native
      bfloat16 instructions, bfloat16 (bfloat16 with XLA too with --all-variants), at the first
      --batch-sizes value; the others are timed in submit's default settings only. Every variant
      is warmed up with one batch first, so tracing is not timed.
  (2) submit: write_submission(limit=count) with its defaults, end to end and cold: loading the
      photos, painting, encoding, writing the zip, and decoding every entry back to check it.
      When the default precision is bfloat16 it is timed in float32 as well.
  (3) tutorial: Kaggle's loop: one photo at a time through the generator eagerly, each painting
      saved with PIL to a folder, then shutil.make_archive.

The ratio (2)/(1) compares submit with the forward pass in the same precision and batch size.
"""

import argparse
import contextlib
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import tensorflow as tf  # noqa: E402

from monet_gan import config as config_lib  # noqa: E402
from monet_gan import data  # noqa: E402
from monet_gan import generators  # noqa: E402
from monet_gan import submission  # noqa: E402

DEFAULT_PHOTOS = PROJECT_ROOT.parent / "shared" / "data" / "gan-getting-started" / "photo_jpg"
ALL_PHOTOS = 7038


def cpu_model():
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def time_forward(model, photos, batch_size, jit_compile):
    """Images/s of batched forward passes over `photos` (a multiple of batch_size), after a warm-up."""
    forward = tf.function(lambda images: model(images, training=False), jit_compile=jit_compile)
    batches = [tf.constant(photos[start:start + batch_size]) for start in range(0, len(photos), batch_size)]
    forward(batches[0]).numpy()
    start = time.perf_counter()
    for batch in batches:
        forward(batch).numpy()
    return len(photos) / (time.perf_counter() - start)


def time_submit(model, photos_source, count, batch_size, folder, precision="auto"):
    result = submission.write_submission(
        model, photos=photos_source, out=os.path.join(folder, "images.zip"), batch_size=batch_size,
        limit=count, precision=precision, verbose=False,
    )
    return result["count"] / result["seconds"], result


def time_tutorial(model, photos, folder):
    """Kaggle's tutorial: paint one photo at a time eagerly, save each JPEG, zip the folder after."""
    image_folder = os.path.join(folder, "images")
    os.makedirs(image_folder)
    start = time.perf_counter()
    for index, photo in enumerate(photos):
        prediction = model(photo[np.newaxis], training=False)[0].numpy()
        prediction = (prediction * 127.5 + 127.5).astype(np.uint8)
        PIL.Image.fromarray(prediction).save(os.path.join(image_folder, f"{index + 1}.jpg"))
    shutil.make_archive(os.path.join(folder, "images"), "zip", image_folder)
    return len(photos) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=64, help="photos per measurement (default 64)")
    parser.add_argument("--generator", choices=config_lib.GENERATOR_ARCHITECTURES,
                        default=config_lib.TrainConfig().generator)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[submission.DEFAULT_BATCH_SIZE],
                        help="batch sizes of the forward pass; the first is also submit's")
    parser.add_argument("--photos", default=str(DEFAULT_PHOTOS), help="a folder of 256 px photos")
    parser.add_argument("--all-variants", action="store_true", help="also time bfloat16 with XLA")
    args = parser.parse_args()
    if any(args.count % batch_size for batch_size in args.batch_sizes):
        parser.error(f"--count {args.count} must be a multiple of every --batch-sizes value")

    config = config_lib.TrainConfig()
    model = generators.build_generator(
        args.generator, image_size=256, filters=config.generator_filters,
        num_residual_blocks=config.num_residual_blocks, name="photo_to_monet",
    )
    photos = np.stack(list(data.load_images(args.photos).take(args.count).as_numpy_iterator()))
    native_bfloat16 = submission.cpu_has_native_bfloat16()
    default_precision = submission.resolve_precision("auto", tf.distribute.get_strategy())
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, native bfloat16: {native_bfloat16}; "
          f"load average {load_average():.2f} at start")
    print(f"generator: {args.generator}, {model.count_params():,} parameters, 256 px; {args.count} photos "
          f"from {args.photos}; write_submission defaults: precision {default_precision}, "
          f"jit_compile {submission.DEFAULT_JIT_COMPILE}, quality {submission.DEFAULT_QUALITY}")

    variants = [("float32", False), ("float32", True)]
    if native_bfloat16 or args.all_variants:
        variants.append(("bfloat16", False))
        if args.all_variants:
            variants.append(("bfloat16", True))

    forward_rates = {}
    for index, batch_size in enumerate(args.batch_sizes):
        # Every variant at the first batch size; the other batch sizes in submit's defaults only.
        default_variant = (default_precision, submission.DEFAULT_JIT_COMPILE)
        for precision, jit_compile in variants if index == 0 else [default_variant]:
            with submission.computing_in(model, "mixed_bfloat16") if precision == "bfloat16" \
                    else contextlib.nullcontext():
                rate = time_forward(model, photos, batch_size, jit_compile)
            forward_rates[precision, jit_compile, batch_size] = rate
            print(f"(1) forward  {precision:8s} {'XLA' if jit_compile else 'no XLA':6s} batch {batch_size:3d}: "
                  f"{rate:6.2f} images/s", flush=True)

    submit_batch = args.batch_sizes[0]
    with tempfile.TemporaryDirectory() as folder:
        submit_rate, result = time_submit(model, args.photos, args.count, submit_batch, folder)
    print(f"(2) submit   defaults ({default_precision}) batch {submit_batch:3d}: {submit_rate:6.2f} images/s "
          f"({result['count']} images, {result['bytes'] / result['count'] / 1e3:.0f} KB each)", flush=True)
    if default_precision != "float32":
        with tempfile.TemporaryDirectory() as folder:
            float32_rate, _ = time_submit(model, args.photos, args.count, submit_batch, folder, "float32")
        print(f"(2) submit   --precision float32 batch {submit_batch:3d}: {float32_rate:6.2f} images/s", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        tutorial_rate = time_tutorial(model, photos, folder)
    print(f"(3) tutorial float32 eager, one image at a time: {tutorial_rate:6.2f} images/s", flush=True)

    same_settings = forward_rates[default_precision, submission.DEFAULT_JIT_COMPILE, submit_batch]
    best = max(forward_rates.items(), key=lambda item: item[1])
    print(f"(2)/(1) same settings: {submit_rate / same_settings:.1%}; (2)/(1) fastest forward "
          f"({best[0][0]}, {'XLA' if best[0][1] else 'no XLA'}, batch {best[0][2]}): {submit_rate / best[1]:.1%}")
    print(f"(2)/(3): {submit_rate / tutorial_rate:.2f}x", end="")
    if default_precision != "float32":
        float32_forward = forward_rates["float32", submission.DEFAULT_JIT_COMPILE, submit_batch]
        print(f"; in float32: (2)/(1) {float32_rate / float32_forward:.1%}, (2)/(3) "
              f"{float32_rate / tutorial_rate:.2f}x", end="")
    print()
    print(f"projected for all {ALL_PHOTOS:,} photos: submit {ALL_PHOTOS / submit_rate / 60:.0f} min, "
          f"tutorial {ALL_PHOTOS / tutorial_rate / 60:.0f} min; load average {load_average():.2f} at the end")


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    main()
