"""Generation: a trained photo->Monet generator paints the photos straight into images.zip.

    python submit.py --ckpt runs/main                 # the command every run ends with
    python -m monet_gan generate --ckpt runs/main --limit 200 --out trial.zip

The photos are read and decoded by tf.data, painted in batches (on every replica of a TPU or of
several GPUs when a distribution strategy is active), converted to 256x256 uint8 and
JPEG-encoded inside one graph function, and each batch is appended to the zip by a writer thread
while the next batch is painted. JPEGs do not compress, so entries are stored, not deflated, and
no folder of thousands of loose files is ever written. The zip is built under a temporary name in
the output directory and renamed to its final name only after every entry has been decoded back
and checked, so a failed run leaves no images.zip and never touches an earlier one.
"""

import concurrent.futures
import os
import re
import tempfile
import time
import zipfile

import keras
import tensorflow as tf
import tqdm

from monet_gan.data import pipeline
from monet_gan.data import sources
from monet_gan.errors import UserError
from monet_gan.generation import image_zip
from monet_gan.generation import painting
from monet_gan.generation import trained_generator
from monet_gan.training import strategy as strategy_lib

# Kaggle's rules for images.zip.
MIN_IMAGES = 7000
MAX_IMAGES = 10000

# ---------------------------------------------------------------------------------------------
# The zip.


def entry_name(photo_name, taken):
    """A unique `<photo id>.jpg` entry name; unsafe characters become '_', repeats get '_2', '_3'...

    `taken` is the set of names used so far (case-folded, as some file systems fold case); the
    new name is added to it.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", photo_name).strip("._") or "image"
    name, number = f"{stem}.jpg", 1
    while name.casefold() in taken:
        number += 1
        name = f"{stem}_{number}.jpg"
    taken.add(name.casefold())
    return name


def write_entries(archive, names, jpegs):
    """Appends one batch of JPEGs to the open zip, stored uncompressed."""
    for name, jpeg in zip(names, jpegs):
        archive.writestr(name, jpeg, compress_type=zipfile.ZIP_STORED)


def resolve_photos(photos=None):
    """The photo source: as given, or the competition photos of the data directory found."""
    if isinstance(photos, (list, tuple)):
        return [os.fspath(path) for path in photos]
    if photos is not None:
        return os.fspath(photos)
    return sources.domain_source(sources.find_data_dir(), "photo")


def plan_count(photo_count, source, limit=None):
    """How many photos to paint: all of them, capped at Kaggle's 10,000, or `limit` on purpose."""
    if limit is not None:
        return min(limit, photo_count, MAX_IMAGES)
    if photo_count < MIN_IMAGES:
        raise UserError(
            f"{source} holds {photo_count} photos; images.zip needs {MIN_IMAGES:,} to "
            f"{MAX_IMAGES:,} images. Use --limit N for a smaller trial zip on purpose."
        )
    if photo_count > MAX_IMAGES:
        print(f"{source} holds {photo_count:,} photos; painting the first {MAX_IMAGES:,} "
              "(Kaggle's maximum)")
    return min(photo_count, MAX_IMAGES)


def _photo_batches(source, image_size, count, global_batch_size):
    """(names, images, valid) batches of exactly `global_batch_size`; the last one is padded.

    Fixed shapes mean one trace (one XLA compilation on a TPU) and an even split across replicas.
    """

    def pad(names, images):
        missing = global_batch_size - tf.shape(images)[0]
        valid = tf.pad(tf.ones_like(names, dtype=tf.bool), [[0, missing]])
        names = tf.concat([names, tf.fill([missing], "")], axis=0)
        images = tf.pad(images, [[0, missing], [0, 0], [0, 0], [0, 0]])
        return (
            tf.ensure_shape(names, [global_batch_size]),
            tf.ensure_shape(images, [global_batch_size, image_size, image_size, 3]),
            tf.ensure_shape(valid, [global_batch_size]),
        )

    dataset = pipeline.load_images(source, image_size, with_names=True).take(count)
    dataset = dataset.batch(global_batch_size).map(pad, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.prefetch(2)
    # Decoding a batch takes a small fraction of painting it, so tf.data's autotuner has nothing to
    # gain here, and it has a cost: on a busy machine, dropping an autotuned iterator stalled for up
    # to 20 s. Without it, AUTOTUNE parallelism means one call per CPU core.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _paint_into(archive, step, batches, count, verbose):
    """Paints every batch and appends its JPEGs to the open zip; returns the number written.

    A writer thread appends each batch while the next one is painted (the graph function releases
    the interpreter lock), and tf.data decodes the photos ahead, so the three stages overlap.
    """
    written, taken, pending = 0, set(), None
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as writer, \
            tqdm.tqdm(total=count, unit="img", desc="painting", disable=not verbose) as progress:
        for names, images, valid in batches:
            names, jpegs, valid = step(names, images, valid)
            valid = valid.numpy()
            names = [entry_name(name.decode("utf-8", "replace"), taken)
                     for name in names.numpy()[valid]]
            jpegs = jpegs.numpy()[valid]
            # The previous batch is written by now, or its error surfaces here.
            if pending is not None:
                pending.result()
            pending = writer.submit(write_entries, archive, names, jpegs)
            written += len(names)
            progress.update(len(names))
        if pending is not None:
            pending.result()
    return written


def _temporary_zip(out):
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise UserError(f"output directory does not exist: {directory}")
    if os.path.isdir(out):
        raise UserError(f"output path is a directory: {out}")
    try:
        handle, temporary_path = tempfile.mkstemp(
            prefix=f".{os.path.basename(out)}.", suffix=".partial", dir=directory
        )
    except OSError as error:
        raise UserError(f"cannot write to {directory}: {error.strerror or error}") from None
    os.close(handle)
    # mkstemp makes the file private (0600); the zip gets the permissions of any new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary_path, 0o666 & ~umask)
    return temporary_path


def _check_arguments(batch_size, limit, quality):
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch size must be a positive integer, got {batch_size!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer from 1 to 100, got {quality!r}")


def write_submission(ckpt, photos=None, out="images.zip", batch_size=painting.DEFAULT_BATCH_SIZE, limit=None,
                     quality=painting.DEFAULT_QUALITY, strategy=None, use_ema=True,
                     jit_compile=painting.DEFAULT_JIT_COMPILE, precision="auto", verbose=True,
                     generator=None):
    """Paints the photos with a generator and writes images.zip, checked entry by entry.

    Args:
      ckpt: what `trained_generator.load_generator` accepts, or a keras.Model generator itself.
      photos: a photo folder, TFRecords, glob or list of these; None for the competition photos
        found by `sources.find_data_dir()`.
      out: the zip to write; replaced only once the new one is complete and valid.
      batch_size: photos per step across all replicas (rounded up to a multiple of them).
      limit: paint only the first `limit` photos, for a trial zip below Kaggle's 7,000.
      quality: JPEG quality, 1-100.
      strategy: the tf.distribute strategy to paint under; None for the active one.
      use_ema: False paints a run directory's live weights (when `generator` is None).
      generator: "best", "ema" or "last" export of a run directory; None for the first present
        of best, ema, last (trained_generator.GENERATOR_CHOICES).
      jit_compile: compile the generator with XLA.
      precision: "auto", "float32" or "bfloat16" arithmetic for the generator (see painting.PRECISIONS).
      verbose: show a progress bar and print a closing summary line.

    Returns:
      dict(path, count, bytes, seconds).
    """
    _check_arguments(batch_size, limit, quality)
    start = time.perf_counter()
    if strategy is None:
        # Under JAX the default is every JAX device; under TensorFlow the active strategy.
        on_jax = keras.backend.backend() == "jax"
        strategy = strategy_lib.get_strategy(verbose=False) if on_jax else tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    global_batch_size = -(-batch_size // replicas) * replicas
    precision = painting.resolve_precision(precision, strategy)
    with strategy.scope():
        model = ckpt if isinstance(ckpt, keras.Model) else trained_generator.load_generator(
            ckpt, use_ema, choice=generator
        )
    # A generator with no fixed input size paints the photos at the size Kaggle wants.
    image_size = trained_generator.check_generator(model, "the generator") or painting.OUTPUT_SIZE

    source = resolve_photos(photos)
    count = plan_count(sources.count_images(source), source, limit)
    batches = _photo_batches(source, image_size, count, global_batch_size)
    if replicas > 1 and not isinstance(strategy, strategy_lib.JaxDataParallel):
        batches = strategy.experimental_distribute_dataset(
            batches, tf.distribute.InputOptions(experimental_fetch_to_device=False)
        )

    out = os.fspath(out)
    temporary_path = _temporary_zip(out)
    # A generator exported from a bfloat16 run keeps that policy in its file; "float32" must
    # still mean float32 arithmetic, so the policy is set either way.
    arithmetic = painting.computing_in(model, "mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        with arithmetic, sources.user_errors(source), zipfile.ZipFile(
            temporary_path, "w", zipfile.ZIP_STORED, allowZip64=True
        ) as archive:
            step = painting.make_paint_step(model, strategy, quality, jit_compile)
            written = _paint_into(archive, step, batches, count, verbose)
        if written != count:
            raise UserError(f"{source} yielded {written} photos where {count} were counted")
        image_zip.validate_image_zip(
            temporary_path, min_count=count, max_count=count, image_size=painting.OUTPUT_SIZE
        )
        os.replace(temporary_path, out)
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary_path):
            os.remove(temporary_path)

    seconds = time.perf_counter() - start
    size = os.path.getsize(out)
    if verbose:
        print(f"wrote {count:,} images to {out} ({size / 1e6:.1f} MB) in {seconds:.1f} s "
              f"({count / seconds:.1f} images/s)")
    return {"path": out, "count": count, "bytes": size, "seconds": seconds}


# ---------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser):
    parser.add_argument("--backend", choices=("tensorflow", "jax"),
                        help="Keras backend (default: KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--ckpt", required=True, metavar="PATH",
                        help="run directory, .keras generator, or .weights.h5 with "
                        "config.json beside it")
    parser.add_argument("--photos", metavar="PATH",
                        help="photo TFRecords, folder or glob (default: the competition photos in "
                        "tfrecords/, else the competition found under /kaggle/input)")
    parser.add_argument("--out", default="images.zip",
                        help="the zip to write (default: images.zip)")
    parser.add_argument("--batch-size", type=int, default=painting.DEFAULT_BATCH_SIZE,
                        help="photos per step, all replicas together "
                        f"(default: {painting.DEFAULT_BATCH_SIZE})")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="paint only the first N photos: a trial zip, below Kaggle's 7,000")
    parser.add_argument("--quality", type=int, default=painting.DEFAULT_QUALITY,
                        help=f"JPEG quality 1-100 (default: {painting.DEFAULT_QUALITY})")
    parser.add_argument("--generator", choices=tuple(trained_generator.GENERATOR_CHOICES),
                        help="which export of a run directory paints: best (lowest KID on the "
                        "quality curve), ema (moving average, last epoch) or last (live weights, "
                        "last epoch); default: the first present of best, ema, last")
    parser.add_argument("--no-ema", action="store_true",
                        help="use a run's live generator (the same as --generator last)")
    parser.add_argument("--jit-compile", action="store_true", help="compile the generator with XLA")
    parser.add_argument("--precision", default="auto", choices=painting.PRECISIONS,
                        help="generator arithmetic (default auto: bfloat16 on CPUs with native "
                        "bfloat16 instructions, float32 elsewhere)")
    parser.add_argument("--strategy", default="auto", choices=strategy_lib.STRATEGY_CHOICES,
                        help="where to paint (default: a TPU or GPUs when present)")


def run(args):
    strategy = strategy_lib.get_strategy(args.strategy)
    write_submission(
        args.ckpt, photos=args.photos, out=args.out, batch_size=args.batch_size, limit=args.limit,
        quality=args.quality, strategy=strategy, use_ema=not args.no_ema,
        jit_compile=args.jit_compile, precision=args.precision, generator=args.generator,
    )
    return 0
