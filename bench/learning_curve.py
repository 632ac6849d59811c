"""Learning curve: the recipe scaled to a CPU, trained on the real data, with its quality curve.

  python bench/learning_curve.py                  # ~1 hour on 2 CPU cores
  python bench/learning_curve.py --minutes 5 --epochs 3 --steps-per-epoch 20   # a quick look
  python bench/learning_curve.py --diffaugment --minutes 70 --out bench_out/learning_curve_diffaugment

Does the recipe paint? One run of the product's trainer (`monet_gan.training.train.train`) with
the recipe's settings (ResNet generator, LSGAN, cycle 10, identity 0.5, Adam 2e-4 decaying to
zero over the second half, image pool 50, generator EMA, mixed precision "auto", no DiffAugment)
scaled to this machine: 128 px, 32 filters and 6 residual blocks in the generators, 32 in the
discriminators, batch 4, on the photos whose names start with 0-9 or a-e (6,586). The product's
time budget (`--minutes`) sizes the run: it plans how many of the `--epochs` fit, and rewrites
the learning-rate decay so that the run ends decayed whatever the machine's speed.

The quality curve (monet_gan/metrics/quality.py) paints the same 256 held-out photos (the first
ones, sorted, whose names start with f) at the end of every epoch with the averaged generator
and scores them against the 300 Monets with the SqueezeNet v1.1 proxy features: proxy FID and
KID, NOT MiFID. Two references are scored in the same run, through the same path (128 px images
into the same feature network, against the same Monet statistics):

  photos unchanged   the 256 held-out photos at 128 px: what "no painting at all" scores.
                     The goal is a curve that falls epoch over epoch and ends below this.
  Monets at 128 px   the 300 Monets themselves through the 128 px round trip. The same images
                     as the reference set, so this is a floor no painting can reach; it shows
                     how much of the score the resolution alone costs.

`--diffaugment` trains the same run with DiffAugment (color,translation,cutout): with the same
seed it sees the same batches, so its curve is paired with the recipe's. At the end the held-out photos are painted by
each export (the last averaged generator, the last raw one, the best epoch's) and scored the
same way: the last two compare the EMA with the weights it averages.

Outputs (in --out, default bench_out/learning_curve, which ignores itself in git):
  run/                 the run folder (log.csv with fid/kid per epoch, loss_curves.png,
                       samples/epoch_NNN.png, the exported generators, time_budget.json)
  learning_curve.json  the curve, the references, the exports' scores, the config, the machine,
                       the timings
  learning_curve.png   KID, FID and the Monet discriminator's real accuracy per epoch, with both
                       references (and the --compare run's curve)
  paintings.png        8 held-out photos painted by the last EMA and raw generators (and the
                       best epoch's, when it is not the last)
A finished run is not trained again: delete --out to start over.
"""

import argparse
import csv
import json
import math
import os
import platform
import sys
import time

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from monet_gan import plots  # noqa: E402
from monet_gan import run_folder  # noqa: E402
from monet_gan.data import pipeline  # noqa: E402
from monet_gan.data import sources  # noqa: E402
from monet_gan.metrics import features  # noqa: E402
from monet_gan.metrics import quality  # noqa: E402
from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import train as train_lib  # noqa: E402

DEFAULT_DATA_DIR = os.path.join(PROJECT_ROOT, "..", "shared", "data", "gan-getting-started")
DEFAULT_WEIGHTS = os.path.join(PROJECT_ROOT, "..", "shared", "weights", features.SQUEEZENET_WEIGHTS_FILE)
DEFAULT_OUT = os.path.join(PROJECT_ROOT, "bench_out", "learning_curve")
TRAINING_PHOTOS = "[0-9a-e]*.jpg"
HELD_OUT_PHOTOS = "f*.jpg"
PAINTING_COUNT = 8


def scaled_recipe(args):
    """The recipe at 128 px with narrower networks; everything else is TrainConfig()'s."""
    planned_steps = args.epochs * args.steps_per_epoch
    return config_lib.TrainConfig(
        image_size=args.image_size,
        generator_filters=args.filters,
        num_residual_blocks=args.blocks,
        discriminator_filters=args.filters,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        # The recipe's averaging horizon (~15% of the run) for the planned length.
        ema_decay=config_lib.ema_decay_for(planned_steps),
        quality_photo_count=args.quality_photos,
        seed=args.seed,
    ).replace(diffaugment_policy=config_lib.DIFFAUGMENT_POLICY if args.diffaugment else None)


def load_photos(source, image_size, count):
    return np.stack(list(pipeline.load_images(source, image_size).take(count).as_numpy_iterator()))


def references(curve, monet_source, image_size):
    """KID and FID of the photos unchanged and of the Monets at `image_size`, as the curve scores."""
    curve.on_train_begin()  # extracts the Monets' features once; training reuses them
    result = {}
    monets = load_photos(monet_source, image_size, 300)
    for name, images in (("photos_unchanged", curve.photos), ("monets_at_size", monets)):
        generated = curve.network((images + 1.0) * 127.5)
        result[name] = {"fid": curve.real.fid(generated), "kid": curve.real.kid(generated)}
    return result


def read_curve(run_dir):
    """The evaluated epochs of log.csv: FID, KID, checkerboard, cycle loss, Monet D's real accuracy."""
    rows = []
    with open(os.path.join(run_dir, run_folder.LOG_FILE), newline="") as file:
        for row in csv.DictReader(file):
            kid = float(row.get("kid") or "nan")
            if math.isfinite(kid):
                rows.append({"epoch": int(row["epoch"]) + 1, "fid": float(row["fid"]), "kid": kid,
                             "checkerboard_db": float(row["checkerboard_db"]),
                             "cycle_loss": float(row["cycle_loss"]),
                             "monet_real_accuracy": float(row["monet_real_accuracy"])})
    return rows


def verdict(curve, reference_kid):
    """What the goal asks: does KID fall epoch over epoch, and end below the unchanged photos?"""
    kids = [row["kid"] for row in curve]
    falls = sum(later < earlier for earlier, later in zip(kids, kids[1:]))
    spearman = scipy.stats.spearmanr(range(len(kids)), kids).statistic if len(kids) > 2 else float("nan")
    return {
        "epochs_evaluated": len(kids),
        "epochs_kid_fell": falls,
        "spearman_kid_vs_epoch": float(spearman),
        "first_kid": kids[0],
        "last_kid": kids[-1],
        "best_kid": min(kids),
        "best_epoch": curve[kids.index(min(kids))]["epoch"],
        "reference_kid": reference_kid,
        "last_below_reference": kids[-1] < reference_kid,
    }


def score_exports(curve, run_dir):
    """FID and KID of the held-out photos painted by each exported generator, as the curve scores."""
    scores = {}
    exported = (("last_ema", run_folder.EMA_GENERATOR_FILE), ("last_raw", run_folder.GENERATOR_FILE),
                ("best", run_folder.BEST_GENERATOR_FILE))
    for kind, file_name in exported:
        generator = keras.saving.load_model(os.path.join(run_dir, file_name), compile=False)
        paintings = np.concatenate([
            np.asarray(generator(curve.photos[start:start + 16], training=False), np.float32)
            for start in range(0, len(curve.photos), 16)
        ])
        generated = curve.network((paintings + 1.0) * 127.5)
        scores[kind] = {"fid": curve.real.fid(generated), "kid": curve.real.kid(generated)}
    return scores


def run_label(config):
    return "with DiffAugment" if config["diffaugment_policy"] else "recipe (no DiffAugment)"


def save_curve_plot(runs, reference, path):
    """KID, FID and the Monet discriminator's real accuracy per epoch; `runs` is [(label, curve)]."""
    figure = Figure(figsize=(15, 4), layout="constrained")
    axes = figure.subplots(1, 3)
    for axis, name in zip(axes, ("kid", "fid", "monet_real_accuracy")):
        for (label, curve), color in zip(runs, ("tab:orange", "tab:purple")):
            line_label = label if name == "monet_real_accuracy" else f"{label}, EMA generator"
            axis.plot([row["epoch"] for row in curve], [row[name] for row in curve], marker="o",
                      markersize=4, color=color, label=line_label)
        if name in reference["photos_unchanged"]:
            axis.axhline(reference["photos_unchanged"][name], color="tab:gray", linestyle="--",
                         label="photos unchanged (the goal: below)")
            axis.axhline(reference["monets_at_size"][name], color="tab:green", linestyle=":",
                         label="Monets at the same size (floor)")
            axis.set_ylabel(f"proxy {name.upper()} vs the 300 Monets (lower is better)")
        else:
            # Memorization of 300 Monets would show as this accuracy climbing towards 1.
            axis.set_ylabel("Monet discriminator: accuracy on real Monets")
            axis.set_ylim(0, 1)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle("Learning curve: 256 held-out photos, SqueezeNet v1.1 proxy features (not MiFID)")
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)


def save_paintings(run_dir, photos, path, best_is_last):
    """Held-out photos (first row) painted by the last averaged and raw generators, and the best one.

    The best epoch's generator gets its row only when it is not the last epoch's.
    """
    rows, titles = [list(photos)], ["photo"]
    exported = [(run_folder.EMA_GENERATOR_FILE, "last epoch,\nEMA"),
                (run_folder.GENERATOR_FILE, "last epoch,\nraw")]
    if not best_is_last:
        exported.append((run_folder.BEST_GENERATOR_FILE, "best epoch\nby KID"))
    for file_name, title in exported:
        generator = keras.saving.load_model(os.path.join(run_dir, file_name), compile=False)
        rows.append(list(np.asarray(generator(photos, training=False), np.float32)))
        titles.append(title)
    plots.save_image_grid(rows, path, row_titles=titles)


def machine():
    model = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as file:
            names = [line.split(":", 1)[1].strip() for line in file if line.startswith("model name")]
        model = names[0] if names else model
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "keras": keras.__version__, "backend": keras.backend.backend(),
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="Kaggle-layout competition data")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS, help="SqueezeNet v1.1 weights (.h5)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--minutes", type=float, default=60, help="training time budget")
    parser.add_argument("--epochs", type=int, default=12, help="epochs planned (the budget may fit fewer)")
    parser.add_argument("--steps-per-epoch", type=int, default=250)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--filters", type=int, default=32, help="generator and discriminator filters")
    parser.add_argument("--blocks", type=int, default=6, help="residual blocks of the generators")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--quality-photos", type=int, default=256, help="held-out photos the curve paints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--diffaugment", action="store_true",
                        help="train with DiffAugment (the recipe's other settings kept), to compare")
    parser.add_argument("--compare", metavar="OUT",
                        help="another run's --out folder, whose curve the plot draws beside this one's")
    args = parser.parse_args()
    for name in ("minutes", "epochs", "steps_per_epoch", "quality_photos"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.compare and not os.path.isfile(os.path.join(args.compare, "learning_curve.json")):
        raise SystemExit(f"--compare {args.compare}: no learning_curve.json there (run the bench there)")
    if not os.path.isfile(args.weights):
        raise SystemExit(f"SqueezeNet weights not found: {args.weights} (pass --weights PATH)")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, ".gitignore"), "w") as file:
        file.write("*\n")
    run_dir = os.path.join(args.out, "run")
    photo_dir = sources.domain_source(args.data_dir, "photo")
    training_photos = os.path.join(photo_dir, TRAINING_PHOTOS)
    monets = sources.domain_source(args.data_dir, "monet")
    config = scaled_recipe(args)

    network = features.build_feature_network("squeezenet", weights=args.weights)
    held_out = load_photos(os.path.join(photo_dir, HELD_OUT_PHOTOS), args.image_size, args.quality_photos)
    curve = quality.QualityCurve(held_out, monets, network, run_dir)
    reference = references(curve, monets, args.image_size)
    print(f"references ({network.name} proxy): photos unchanged KID "
          f"{reference['photos_unchanged']['kid']:.2f}, Monets at {args.image_size} px KID "
          f"{reference['monets_at_size']['kid']:.2f}")

    result_path = os.path.join(args.out, "learning_curve.json")
    previous = {}
    if os.path.exists(result_path):
        with open(result_path) as file:
            previous = json.load(file)
    keras.utils.set_random_seed(args.seed)
    machine_at_start = machine()
    start = time.perf_counter()
    summary = train_lib.train(config, run_dir, photo_source=training_photos, monet_source=monets,
                              verbose=2, time_budget=args.minutes * 60, callbacks=[curve])
    trained = {"machine": machine_at_start, "train_seconds": time.perf_counter() - start,
               "quality_seconds_per_evaluation": curve.seconds}
    if previous.get("steps") == summary["steps"]:
        # A finished run is not trained again: its machine, date and times are the ones recorded then.
        trained = {key: previous[key] for key in trained}

    rows = read_curve(run_dir)
    result = {
        **trained,
        "config": config.__dict__,
        "steps": summary["steps"],
        "epochs": summary["epochs"],
        "references": reference,
        "curve": rows,
        "exports": score_exports(curve, run_dir),
        "verdict": verdict(rows, reference["photos_unchanged"]["kid"]),
    }
    with open(result_path + ".tmp", "w") as file:
        json.dump(result, file, indent=2)
    os.replace(result_path + ".tmp", result_path)
    runs = [(run_label(result["config"]), rows)]
    if args.compare:
        with open(os.path.join(args.compare, "learning_curve.json")) as file:
            other = json.load(file)
        runs.append((run_label(other["config"]), other["curve"]))
    save_curve_plot(runs, reference, os.path.join(args.out, "learning_curve.png"))
    save_paintings(run_dir, held_out[:PAINTING_COUNT], os.path.join(args.out, "paintings.png"),
                   best_is_last=result["verdict"]["best_epoch"] == rows[-1]["epoch"])

    print(f"\n{'epoch':>5} {'FID':>8} {'KID':>8} {'grid dB':>8} {'cycle':>6} {'D real':>6}")
    for row in rows:
        print(f"{row['epoch']:>5} {row['fid']:>8.1f} {row['kid']:>8.2f} {row['checkerboard_db']:>8.1f} "
              f"{row['cycle_loss']:>6.3f} {row['monet_real_accuracy']:>6.2f}")
    for name, label in (("photos_unchanged", "photos unchanged"), ("monets_at_size", "Monets at size")):
        print(f"{label:>17}: FID {reference[name]['fid']:.1f}, KID {reference[name]['kid']:.2f}")
    for kind, score in result["exports"].items():
        print(f"{kind:>17}: FID {score['fid']:.1f}, KID {score['kid']:.2f}")
    print(json.dumps(result["verdict"], indent=2))
    print(f"learning curve: {summary['steps']} steps in {result['train_seconds'] / 60:.1f} min; "
          f"outputs in {args.out}")


if __name__ == "__main__":
    main()
