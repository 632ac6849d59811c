"""Benchmark: images.zip end to end against the bare forward pass and Kaggle's tutorial loop.

Run from the project root (about 15 minutes on 2 CPU cores with the defaults):
    python bench/submission.py [--count 96] [--rounds 3] [--generator resnet|unet]
                               [--batch-sizes 32 8] [--photos DIR] [--float32-submit]

Everything is measured in one process on the same first --count photos at 256 px, with the
default generator of TrainConfig (the ResNet; --generator unet for the tutorial's U-Net) at random
initialization: the speed of a network does not depend on the values of its weights.

  (1) forward: the generator alone, batched, in a tf.function, on photos already decoded into
      memory: the ceiling for (2). Timed in float32 at the first --batch-sizes value, with and
      without XLA, and, on CPUs with native bfloat16 instructions, in bfloat16 at every
      --batch-sizes value. Each variant is warmed up with one batch first, so tracing is not timed.
  (2) submit: write_submission(limit=count) with its defaults, end to end and cold (a new graph
      function is traced in every round): reading the photos, painting, encoding, writing the zip,
      and decoding every entry back to check it. Also timed from its first written batch to its
      end, which leaves out the once-per-run start (tracing, the first batch): the rate that
      7,038 photos see. From the two, the run's start-up cost (what its first batch took beyond
      the steady per-image time) plus 7,038 photos at the steady rate project the end-to-end
      rate of a full submission. --float32-submit times it in float32 too.
  (3) tutorial: Kaggle's loop: one photo at a time through the generator eagerly, each painting
      saved with PIL to a folder, then shutil.make_archive.

The machine is shared, so the measurements are interleaved: every round times every method once,
and other people's load falls on all of them alike. The best round of each estimates its speed on
a quiet machine. The CPU seconds each image costs this process (all its threads) are reported too:
others' load hardly changes them, so their ratios are the steadier comparison, though they credit
single-threaded work (the tutorial's Python loop) with both cores. XLA is timed in the first round
only (it never won).
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

from monet_gan.data import pipeline  # noqa: E402
from monet_gan.generation import painting
from monet_gan.generation import submission  # noqa: E402
from monet_gan.networks import generators  # noqa: E402
from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import strategy as strategy_lib  # noqa: E402

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


def make_forward(model, precision, jit_compile, batch_size, photos):
    """A warmed-up function that paints `photos` in batches and returns the seconds it took."""
    arithmetic = painting.computing_in(model, "mixed_bfloat16") if precision == "bfloat16" \
        else contextlib.nullcontext()
    with arithmetic:

        @tf.function(jit_compile=jit_compile)
        def forward(images):
            return model(images, training=False)

        batches = [tf.constant(photos[start:start + batch_size])
                   for start in range(0, len(photos), batch_size)]
        forward(batches[0]).numpy()

    def run():
        start, start_cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            forward(batch).numpy()
        return {"": (len(photos), time.perf_counter() - start, time.process_time() - start_cpu)}

    return run


def make_submit(model, photos_source, count, precision):
    """Times write_submission: cold end to end, and from its first written batch to its end.

    The second figure leaves out what is paid once per run (tracing the graph function, the first
    call's kernel set-up, the first batch); it is what 7,038 photos see for almost all their time.
    """
    def run():
        first_write = []

        def timed_write(archive, names, jpegs):
            if not first_write:
                first_write.append((time.perf_counter(), time.process_time(), len(names)))
            write_entries(archive, names, jpegs)

        write_entries, submission.write_entries = submission.write_entries, timed_write
        try:
            start, start_cpu = time.perf_counter(), time.process_time()
            with tempfile.TemporaryDirectory() as folder:
                submission.write_submission(
                    model, photos=photos_source, out=os.path.join(folder, "images.zip"), limit=count,
                    precision=precision, verbose=False,
                )
                end, end_cpu = time.perf_counter(), time.process_time()
        finally:
            submission.write_entries = write_entries
        first_time, first_cpu, first_count = first_write[0]
        steady_seconds, steady_cpu = end - first_time, end_cpu - first_cpu
        steady_count = count - first_count
        # What the first batch cost beyond the steady per-image time, paid once per run.
        start_up = (first_time - start) - first_count * steady_seconds / steady_count
        start_up_cpu = (first_cpu - start_cpu) - first_count * steady_cpu / steady_count
        return {
            "cold": (count, end - start, end_cpu - start_cpu),
            "after first batch": (steady_count, steady_seconds, steady_cpu),
            f"projected for {ALL_PHOTOS:,}": (
                ALL_PHOTOS, start_up + ALL_PHOTOS * steady_seconds / steady_count,
                start_up_cpu + ALL_PHOTOS * steady_cpu / steady_count,
            ),
        }

    return run


def make_tutorial(model, photos):
    """Kaggle's tutorial: paint one photo at a time eagerly, save each JPEG, zip the folder after."""
    model(photos[:1], training=False)

    def run():
        with tempfile.TemporaryDirectory() as folder:
            image_folder = os.path.join(folder, "images")
            os.makedirs(image_folder)
            start, start_cpu = time.perf_counter(), time.process_time()
            for index, photo in enumerate(photos):
                prediction = model(photo[np.newaxis], training=False)[0].numpy()
                prediction = (prediction * 127.5 + 127.5).astype(np.uint8)
                PIL.Image.fromarray(prediction).save(os.path.join(image_folder, f"{index + 1}.jpg"))
            shutil.make_archive(os.path.join(folder, "images"), "zip", image_folder)
            return {"": (len(photos), time.perf_counter() - start, time.process_time() - start_cpu)}

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=96, help="photos per measurement (default 96)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--generator", choices=config_lib.GENERATOR_ARCHITECTURES,
                        default=config_lib.TrainConfig().generator)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 8],
                        help="batch sizes of the forward pass (default: 32 8)")
    parser.add_argument("--photos", default=str(DEFAULT_PHOTOS), help="a folder of 256 px photos")
    parser.add_argument("--float32-submit", action="store_true", help="also time submit in float32")
    args = parser.parse_args()
    if any(args.count % batch_size for batch_size in args.batch_sizes):
        parser.error(f"--count {args.count} must be a multiple of every --batch-sizes value")

    config = config_lib.TrainConfig()
    model = generators.build_generator(
        args.generator, image_size=256, filters=config.generator_filters,
        num_residual_blocks=config.num_residual_blocks, name="photo_to_monet",
    )
    photos = np.stack(list(pipeline.load_images(args.photos).take(args.count).as_numpy_iterator()))
    strategy = tf.distribute.get_strategy()
    native_bfloat16 = strategy_lib.cpu_has_native_bfloat16()
    precision = painting.resolve_precision("auto", strategy)
    batch_size = painting.DEFAULT_BATCH_SIZE
    if args.count < 2 * batch_size:
        parser.error(f"--count {args.count} leaves submit no batch after its first of {batch_size}")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, native bfloat16: {native_bfloat16}; "
          f"load average {load_average():.2f} at start")
    print(f"generator: {args.generator}, {model.count_params():,} parameters, 256 px; {args.count} photos x "
          f"{args.rounds} rounds; submit defaults: {precision}, batch {batch_size}, "
          f"XLA {painting.DEFAULT_JIT_COMPILE}, quality {painting.DEFAULT_QUALITY}")

    forward_variants = [("float32", False, args.batch_sizes[0]), ("float32", True, args.batch_sizes[0])]
    if native_bfloat16:
        forward_variants += [("bfloat16", False, size) for size in args.batch_sizes]
    if (precision, painting.DEFAULT_JIT_COMPILE, batch_size) not in forward_variants:
        forward_variants.append((precision, painting.DEFAULT_JIT_COMPILE, batch_size))
    methods = {
        f"(1) forward  {p:8s} {'XLA' if jit else 'no XLA':6s} batch {size:2d}":
            make_forward(model, p, jit, size, photos)
        for p, jit, size in forward_variants
    }
    submit_label = f"(2) submit   {precision:8s} no XLA batch {batch_size:2d}"
    methods[submit_label] = make_submit(model, args.photos, args.count, "auto")
    if args.float32_submit and precision != "float32":
        methods[f"(2) submit   float32  no XLA batch {batch_size:2d}"] = make_submit(
            model, args.photos, args.count, "float32")
    tutorial_label = "(3) tutorial float32 eager  batch  1"
    methods[tutorial_label] = make_tutorial(model, photos)

    rates, cpu_rates = {}, {}
    for round_index in range(args.rounds):
        for label, run in methods.items():
            if "XLA " in label and "no XLA" not in label and round_index > 0:
                continue
            for kind, (images, seconds, cpu_seconds) in run().items():
                name = f"{label} {kind}".strip()
                rates.setdefault(name, []).append(images / seconds)
                cpu_rates.setdefault(name, []).append(images / cpu_seconds)
                print(f"round {round_index + 1} {name}: {images / seconds:6.2f} images/s, "
                      f"{cpu_seconds / images:5.2f} CPU s/image (load {load_average():.1f})", flush=True)

    print("\nbest round: images/s (wall clock), and images per CPU second (median; others' load "
          "hardly changes it)")
    best = {name: max(values) for name, values in rates.items()}
    per_cpu_second = {name: float(np.median(values)) for name, values in cpu_rates.items()}
    for name in best:
        print(f"  {name}: {best[name]:6.2f}  {per_cpu_second[name]:6.2f}")
    same_forward = f"(1) forward  {precision:8s} no XLA batch {batch_size:2d}"
    for figures, title in ((best, "wall clock"), (per_cpu_second, "CPU time")):
        fastest = max((name for name in figures if name.startswith("(1)")), key=figures.get)
        for kind in ("cold", "after first batch", f"projected for {ALL_PHOTOS:,}"):
            submit = figures[f"{submit_label} {kind}"]
            print(f"{title}, (2) {kind}: (2)/(1) same settings {submit / figures[same_forward]:.0%}, "
                  f"(2)/(1) fastest [{fastest[4:].strip()}] {submit / figures[fastest]:.0%}, "
                  f"(2)/(3) {submit / figures[tutorial_label]:.2f}x")
    submit_rate, tutorial_rate = best[f"{submit_label} projected for {ALL_PHOTOS:,}"], best[tutorial_label]
    print(f"projected for all {ALL_PHOTOS:,} photos: submit {ALL_PHOTOS / submit_rate / 60:.0f} min, "
          f"tutorial {ALL_PHOTOS / tutorial_rate / 60:.0f} min; load average {load_average():.2f} at the end")


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    main()
