"""Ablation: short 64 px CycleGAN runs on the real data with DiffAugment and the generator EMA on and off.

  python bench/ablation.py            # the default runs below; ~15 min on 2 idle CPU cores
  python bench/ablation.py --runs plain:0 diffaugment:0 --steps 150   # a quicker look

Every run trains with `monet_gan.training.train.train` on the real photos and Monets (64 px, a small
ResNet generator, batch 4, a few hundred steps), then paints 300 held-out photos through the
submission path (`submission.write_submission`: 64 px paintings resized to 256 and written as
JPEGs) and scores them with the local metric (`monet_gan.metrics.mifid`) against the 300 Monets. Without
InceptionV3 weights on this machine the feature network is the SqueezeNet v1.1 proxy, so the
numbers are proxy FID/KID, NOT MiFID, and not comparable with the leaderboard.

What is compared. Every run keeps a generator EMA. The EMA only reads the weights, so the raw
generator of a run is exactly what the same run without EMA would have produced; each run is
therefore scored twice, raw and averaged, and the EMA's effect is measured on the same training
trajectory:
  plain        DiffAugment off: raw = the baseline, EMA = "+EMA" (the recipe)
  diffaugment  DiffAugment on:  raw = "+DiffAugment", EMA = "+DiffAugment +EMA"
  hinge        "diffaugment" with the hinge loss instead of LSGAN
  soft_labels  "diffaugment" with one-sided soft real labels (0.9)
  resize_conv  "diffaugment" with resize-convolution upsampling (nearest, then a stride-1
               convolution) instead of transposed convolutions

Every run also logs the quality curve (FID and KID of fixed paintings per epoch, log.csv), and
every painted zip is measured for the checkerboard of stride-2 upsampling (metrics/checkerboard.py),
as its excess in dB over the Monets sent through the same round trip.

Scores are given twice: against the Monets as they are (256 px), and against the Monets sent
through the same 64 px -> 256 px round trip as the paintings, which takes the blur of the low
resolution out of the comparison. One reference is scored the same way: the held-out photos
unchanged, which is what "no painting at all" scores.

Held-out photos: training reads the photos whose names start with 0-9 or a-e (6,586); the first
300 (sorted) of those starting with f are painted for scoring. Nothing is copied: both are globs.

Outputs (in --out, default bench_out/ablation, which ignores itself in git):
  runs/<training>_seed<N>/    the run directory (samples/epoch_NNN.png, loss_curves.png, log.csv,
                              both exported generators; checkpoints are deleted once scored) and
                              result.json with its scores
  results.json, results.csv   one row per scored generator
  samples.png                 the fixed sample photos painted by every generator, side by side
A run whose result.json exists is not trained again, so an interrupted ablation resumes.
"""

import argparse
import csv
import dataclasses
import json
import os
import shutil
import statistics
import sys
import time

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tqdm  # noqa: E402

from monet_gan import plots  # noqa: E402
from monet_gan import run_folder  # noqa: E402
from monet_gan.data import pipeline  # noqa: E402
from monet_gan.data import sources  # noqa: E402
from monet_gan.generation import submission  # noqa: E402
from monet_gan.metrics import checkerboard  # noqa: E402
from monet_gan.metrics import features  # noqa: E402
from monet_gan.metrics import mifid  # noqa: E402
from monet_gan.metrics import quality  # noqa: E402
from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import train as train_lib  # noqa: E402

DEFAULT_DATA_DIR = os.path.join(PROJECT_ROOT, "..", "shared", "data", "gan-getting-started")
DEFAULT_WEIGHTS = os.path.join(PROJECT_ROOT, "..", "shared", "weights", features.SQUEEZENET_WEIGHTS_FILE)
DEFAULT_OUT = os.path.join(PROJECT_ROOT, "bench_out", "ablation")
TRAINING_PHOTOS = "[0-9a-e]*.jpg"
HELD_OUT_PHOTOS = "f*.jpg"

# What each training changes in the shared small config.
TRAININGS = {
    "plain": dict(diffaugment_policy=""),
    "diffaugment": dict(),
    "hinge": dict(loss="hinge"),
    "soft_labels": dict(real_label=0.9),
    "resize_conv": dict(upsampling="nearest"),
}
# The name each (training, generator) pair goes by in the tables.
SETTING_NAMES = {
    ("plain", "raw"): "baseline",
    ("plain", "ema"): "+EMA (the recipe)",
    ("diffaugment", "raw"): "+DiffAugment",
    ("diffaugment", "ema"): "+DiffAugment +EMA",
    ("hinge", "raw"): "+DiffAugment, hinge",
    ("hinge", "ema"): "+DiffAugment +EMA, hinge",
    ("soft_labels", "raw"): "+DiffAugment, soft labels",
    ("soft_labels", "ema"): "+DiffAugment +EMA, soft labels",
    ("resize_conv", "raw"): "+DiffAugment, resize-conv",
    ("resize_conv", "ema"): "+DiffAugment +EMA, resize-conv",
}
DEFAULT_RUNS = ["plain:0", "diffaugment:0", "plain:1", "diffaugment:1", "plain:2", "diffaugment:2",
                "hinge:0", "soft_labels:0"]
METRIC_COLUMNS = ("fid", "kid", "memorization_distance", "fid_64", "kid_64", "memorization_distance_64",
                  "checkerboard_db", "checkerboard_excess_db")


def base_config(args, seed):
    """The shared small config: the recipe shrunk to 64 px and a few hundred steps, with DiffAugment."""
    ema_decay = args.ema_decay
    if ema_decay is None:
        ema_decay = config_lib.ema_decay_for(args.steps)
    return config_lib.TrainConfig(
        image_size=args.image_size,
        generator="resnet",
        generator_filters=16,
        num_residual_blocks=3,
        discriminator_filters=16,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps_per_epoch=args.steps // args.epochs,
        ema_decay=ema_decay,
        # Every training but "plain" keeps DiffAugment, so each row differs from "+DiffAugment" by one thing.
        diffaugment_policy=config_lib.DIFFAUGMENT_POLICY,
        sample_count=4,
        seed=seed,
    )


def parse_runs(runs):
    """["plain:0", ...] -> [("plain", 0), ...], with a clear error for a bad entry."""
    parsed = []
    for run in runs:
        training, _, seed = run.partition(":")
        if training not in TRAININGS or not seed.isdigit():
            raise SystemExit(f"bad --runs entry {run!r}: expected <training>:<seed> with training in "
                             f"{', '.join(TRAININGS)}")
        parsed.append((training, int(seed)))
    return parsed


def unchanged_model(image_size):
    """A 'generator' that returns the photo itself, to score the no-painting reference."""
    inputs = keras.Input((image_size, image_size, 3), name="photos")
    outputs = keras.layers.Identity(name="unchanged")(inputs)
    return keras.Model(inputs, outputs, name="unchanged")


class Scorer:
    """Scores 256 px image zips against the Monets, as they are and after a 64 px round trip."""

    def __init__(self, args, cache_dir):
        self.network = features.build_feature_network("squeezenet", weights=args.weights)
        monets = sources.domain_source(args.data_dir, "monet")
        self.real = {"": mifid.extract_features(monets, self.network, progress=False)}
        # The Monets through the same path as the paintings: 64 px, resized to 256, JPEG.
        round_trip = os.path.join(cache_dir, f"monets_{args.image_size}px.zip")
        if not os.path.exists(round_trip):
            submission.write_submission(unchanged_model(args.image_size), photos=monets, out=round_trip,
                                        limit=300, verbose=False)
        # The checkerboard reference is the Monets through the same resize and JPEG encoding.
        meter = checkerboard.CheckerboardMeter()
        self.real["_64"] = mifid.extract_features(round_trip, self.network, progress=False, meter=meter)
        self.real_checkerboard_db = meter.result()

    def score(self, zip_path):
        meter = checkerboard.CheckerboardMeter()
        generated = mifid.extract_features(zip_path, self.network, progress=False, meter=meter)
        result = {}
        for suffix, real in self.real.items():
            metrics = mifid.metrics_from_features(generated, real)
            for name in ("fid", "kid", "memorization_distance"):
                result[name + suffix] = metrics[name]
        result["checkerboard_db"] = meter.result()
        result["checkerboard_excess_db"] = meter.result() - self.real_checkerboard_db
        return result


def paint_and_score(generator, held_out, zip_path, scorer, count):
    submission.write_submission(generator, photos=held_out, out=zip_path, limit=count, verbose=False)
    return scorer.score(zip_path)


def last_log_row(run_dir):
    with open(os.path.join(run_dir, run_folder.LOG_FILE)) as file:
        rows = list(csv.DictReader(file))
    # Keras' CSVLogger writes NA for metrics an epoch did not report (validation ones); skip them.
    return {key: float(value) for key, value in rows[-1].items() if value not in ("", "NA")}


def train_and_score(training, seed, args, scorer, paths):
    """Trains one run (unless its result.json exists) and scores its raw and EMA generators."""
    run_dir = os.path.join(args.out, "runs", f"{training}_seed{seed}")
    result_path = os.path.join(run_dir, "result.json")
    if os.path.exists(result_path):
        with open(result_path) as file:
            return json.load(file)
    # A run without result.json was interrupted: start it again so its time is whole.
    shutil.rmtree(run_dir, ignore_errors=True)
    config = base_config(args, seed).replace(**TRAININGS[training])
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    # The quality curve logs FID and KID per epoch (quality.png's numbers in log.csv).
    curve = quality.quality_callback(config, paths["training"], paths["monets"], run_dir,
                                     feature_weights=args.weights)
    train_lib.train(config, run_dir, photo_source=paths["training"], monet_source=paths["monets"], verbose=0,
                    callbacks=[curve] if curve else [])
    seconds = time.perf_counter() - start
    keras.backend.clear_session()
    log = last_log_row(run_dir)
    result = {
        "training": training,
        "seed": seed,
        "train_seconds": seconds,
        "config": dataclasses.asdict(config),
        "last_epoch": {key: log[key] for key in log if "accuracy" in key or key.endswith("loss")},
        "generators": {},
    }
    for kind, file_name in (("raw", run_folder.GENERATOR_FILE), ("ema", run_folder.EMA_GENERATOR_FILE)):
        zip_path = os.path.join(run_dir, f"held_out_{kind}.zip")
        result["generators"][kind] = paint_and_score(
            os.path.join(run_dir, file_name), paths["held_out"], zip_path, scorer, args.score_count
        )
        os.remove(zip_path)
    with open(result_path + ".tmp", "w") as file:
        json.dump(result, file, indent=2)
    os.replace(result_path + ".tmp", result_path)
    # The checkpoints (~30 MB a run, mostly image pools and optimizer states) only serve to
    # resume training, which the ablation never does: a scored run keeps its exports instead.
    shutil.rmtree(os.path.join(run_dir, run_folder.CHECKPOINT_DIR), ignore_errors=True)
    return result


def table_rows(results, reference):
    rows = [dict(setting="reference: photos unchanged", training="-", generator="-", seed="-",
                 train_seconds=float("nan"), **reference)]
    for result in results:
        for kind, metrics in result["generators"].items():
            rows.append(dict(
                setting=SETTING_NAMES[(result["training"], kind)], training=result["training"],
                generator=kind, seed=result["seed"], train_seconds=result["train_seconds"],
                monet_real_accuracy=result["last_epoch"]["monet_real_accuracy"],
                monet_fake_accuracy=result["last_epoch"]["monet_fake_accuracy"],
                **metrics,
            ))
    return rows


def summary_rows(rows):
    """Mean and standard deviation over seeds of every setting that ran more than once."""
    by_setting = {}
    for row in rows:
        if row["seed"] != "-":
            by_setting.setdefault(row["setting"], []).append(row)
    summary = []
    for setting, group in by_setting.items():
        entry = {"setting": setting, "seeds": len(group)}
        for column in METRIC_COLUMNS:
            values = [row[column] for row in group]
            entry[column] = statistics.mean(values)
            entry[column + "_std"] = statistics.stdev(values) if len(values) > 1 else float("nan")
        summary.append(entry)
    return summary


def format_tables(rows, summary):
    header = (f"{'setting':<28} {'seed':>4} {'train s':>7} {'FID':>7} {'KID':>7} {'mem d':>6} "
              f"{'FID@64':>7} {'KID@64':>7} {'grid dB':>7} {'D real':>6} {'D fake':>6}")
    lines = ["Per run (SqueezeNet proxy features: NOT MiFID; D accuracies: Monet discriminator of the last epoch)",
             header, "-" * len(header)]
    for row in rows:
        accuracies = (f"{row['monet_real_accuracy']:>6.2f} {row['monet_fake_accuracy']:>6.2f}"
                      if "monet_real_accuracy" in row else f"{'-':>6} {'-':>6}")
        lines.append(
            f"{row['setting']:<28} {row['seed']:>4} {row['train_seconds']:>7.0f} {row['fid']:>7.2f} "
            f"{row['kid']:>7.2f} {row['memorization_distance']:>6.3f} {row['fid_64']:>7.2f} "
            f"{row['kid_64']:>7.2f} {row['checkerboard_excess_db']:>7.1f} {accuracies}"
        )
    lines += ["", "Mean +- standard deviation over seeds (grid dB: checkerboard excess over the Monets)",
              f"{'setting':<28} {'seeds':>5} {'FID':>15} {'KID':>13} {'FID@64':>15} {'KID@64':>13} "
              f"{'grid dB':>13}"]
    for entry in summary:
        lines.append(
            f"{entry['setting']:<28} {entry['seeds']:>5} "
            f"{entry['fid']:>7.2f} +- {entry['fid_std']:<4.2f} "
            f"{entry['kid']:>5.2f} +- {entry['kid_std']:<4.2f} "
            f"{entry['fid_64']:>7.2f} +- {entry['fid_64_std']:<4.2f} "
            f"{entry['kid_64']:>5.2f} +- {entry['kid_64_std']:<4.2f} "
            f"{entry['checkerboard_excess_db']:>5.1f} +- {entry['checkerboard_excess_db_std']:<4.1f}"
        )
    return "\n".join(lines)


def save_side_by_side(results, args, paths):
    """The fixed sample photos painted by every scored generator of the first seed, one column each."""
    photos = np.stack(list(pipeline.load_images(paths["training"], args.image_size).take(4).as_numpy_iterator()))
    first_seed = min(result["seed"] for result in results)
    columns, titles = [photos], ["photo"]
    for result in results:
        if result["seed"] != first_seed:
            continue
        run_dir = os.path.join(args.out, "runs", f"{result['training']}_seed{result['seed']}")
        for kind, file_name in (("raw", run_folder.GENERATOR_FILE), ("ema", run_folder.EMA_GENERATOR_FILE)):
            generator = keras.saving.load_model(os.path.join(run_dir, file_name), compile=False)
            columns.append(np.asarray(generator(photos, training=False)))
            titles.append(SETTING_NAMES[(result["training"], kind)].replace(" (", "\n("))
    rows = [[column[index] for column in columns] for index in range(len(photos))]
    plots.save_image_grid(rows, os.path.join(args.out, "samples.png"), column_titles=titles)


def write_outputs(rows, summary, args):
    with open(os.path.join(args.out, "results.json.tmp"), "w") as file:
        json.dump({"runs": rows, "summary": summary}, file, indent=2)
    os.replace(os.path.join(args.out, "results.json.tmp"), os.path.join(args.out, "results.json"))
    columns = ["setting", "training", "generator", "seed", "train_seconds", *METRIC_COLUMNS,
               "monet_real_accuracy", "monet_fake_accuracy"]
    with open(os.path.join(args.out, "results.csv.tmp"), "w", newline="") as file:
        writer = csv.DictWriter(file, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(os.path.join(args.out, "results.csv.tmp"), os.path.join(args.out, "results.csv"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="Kaggle-layout competition data")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS, help="SqueezeNet v1.1 weights (.h5)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, metavar="TRAINING:SEED",
                        help=f"runs to train and score; trainings: {', '.join(TRAININGS)}")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (sample grid and log row each)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--ema-decay", type=float, default=None,
                        help="EMA decay; default: the recipe's averaging horizon scaled to --steps")
    parser.add_argument("--score-count", type=int, default=300, help="held-out photos painted and scored")
    args = parser.parse_args()
    runs = parse_runs(args.runs)
    if args.steps < args.epochs:
        raise SystemExit(f"--steps {args.steps} must be at least --epochs {args.epochs}")
    if args.ema_decay is not None and not 0 < args.ema_decay < 1:
        # Every run is scored with and without its average, so the average must exist.
        raise SystemExit(f"--ema-decay must be between 0 and 1 (exclusive), got {args.ema_decay}")

    os.makedirs(args.out, exist_ok=True)
    # The outputs are never committed: the folder ignores itself, as .pytest_cache does.
    with open(os.path.join(args.out, ".gitignore"), "w") as file:
        file.write("*\n")
    photo_dir = sources.domain_source(args.data_dir, "photo")
    paths = {
        "training": os.path.join(photo_dir, TRAINING_PHOTOS),
        "held_out": os.path.join(photo_dir, HELD_OUT_PHOTOS),
        "monets": sources.domain_source(args.data_dir, "monet"),
    }
    scorer = Scorer(args, args.out)
    reference = paint_and_score(unchanged_model(args.image_size), paths["held_out"],
                                os.path.join(args.out, "photos_unchanged.zip"), scorer, args.score_count)
    results = []
    for training, seed in tqdm.tqdm(runs, desc="ablation runs", unit="run"):
        results.append(train_and_score(training, seed, args, scorer, paths))
        rows = table_rows(results, reference)
        write_outputs(rows, summary_rows(rows), args)
    rows = table_rows(results, reference)
    summary = summary_rows(rows)
    write_outputs(rows, summary, args)
    save_side_by_side(results, args, paths)
    print(format_tables(rows, summary))
    total_minutes = sum(result["train_seconds"] for result in results) / 60
    print(f"ablation: {len(results)} runs ({total_minutes:.1f} min of training) scored; results in {args.out}")


if __name__ == "__main__":
    main()
