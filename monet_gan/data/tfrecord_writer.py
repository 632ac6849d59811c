"""`make-tfrecords`: turn a folder of images into TFRecord shards in Kaggle's exact schema.

Each record is a tf.train.Example with bytes features `image_name` (the file name without its
extension), `image` (JPEG bytes) and `target` (the domain, e.g. b"photo"). Shards are named like
Kaggle's, `photo00-352.tfrec`: the target, a two-digit shard index and the record count. JPEG
files keep their original bytes; other formats (PNG) are re-encoded as JPEG at quality 95.
Every input is decoded first; if any fails, no shard is written at all.
"""

import math
import os
import uuid

import tensorflow as tf
import tqdm

from monet_gan.data import sources
from monet_gan.errors import UserError

JPEG_QUALITY = 95


def image_example(name, jpeg_bytes, target):
    """One record in Kaggle's schema."""

    def bytes_feature(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "image_name": bytes_feature(name.encode() if isinstance(name, str) else name),
                "image": bytes_feature(jpeg_bytes),
                "target": bytes_feature(target.encode() if isinstance(target, str) else target),
            }
        )
    )


def shard_sizes(count, shards):
    """Kaggle's split: every shard holds ceil(count / shards) records but the last (7,038 photos in
    20 shards -> 19 x 352 + 350); shards that would be empty are not made."""
    per_shard = math.ceil(count / shards)
    return [min(per_shard, count - start) for start in range(0, count, per_shard)]


def _jpeg_payloads(files):
    """Dataset of (path, JPEG bytes, was re-encoded, shape) for the files that decode; the files
    that do not are dropped."""

    def prepare(path):
        contents = tf.io.read_file(path)
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        is_jpeg = tf.io.is_jpeg(contents)
        payload = tf.cond(
            is_jpeg,
            lambda: contents,
            lambda: tf.io.encode_jpeg(image, quality=JPEG_QUALITY),
        )
        # The image's shape is returned (and ignored) because otherwise the graph optimizer
        # drops the decoding of JPEG inputs, whose payload does not depend on it, and broken
        # JPEGs would slip through unvalidated.
        return path, payload, tf.logical_not(is_jpeg), tf.shape(image)

    dataset = tf.data.Dataset.from_tensor_slices(files)
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.ignore_errors(log_warning=False)


def _why_bad(path):
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except tf.errors.OpError as error:
        return sources.tf_error_message(error)
    return "unreadable"


def write_tfrecords(source, out_dir, target="photo", shards=20, overwrite=False):
    """Writes the images of `source` (folder, glob or list) as shards into `out_dir`.

    Returns (shard paths, number of non-JPEG inputs re-encoded as JPEG). Raises UserError naming
    the bad files (and writes nothing) when any input does not decode, and when `out_dir` already
    holds shards of `target` unless `overwrite` is set.
    """
    if not target or not isinstance(target, str) or "/" in target:
        raise ValueError(f"target must be a non-empty name without '/', got {target!r}")
    if not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a positive integer, got {shards!r}")
    files = sources.list_files(source)
    if sources.source_kind(files, source) != "image":
        raise UserError(f"{source} holds TFRecords; make-tfrecords needs a folder of images")
    out_dir = os.fspath(out_dir)
    existing = tf.io.gfile.glob(os.path.join(out_dir, f"{target}[0-9]*.tfrec"))
    if existing and not overwrite:
        raise UserError(
            f"{out_dir} already holds {len(existing)} {target} shards; "
            "remove them or pass --overwrite to replace them"
        )
    sizes = shard_sizes(len(files), shards)
    # Shards go to a hidden staging folder first so that a failure leaves no partial output.
    created_out_dir = not tf.io.gfile.isdir(out_dir)
    staging = os.path.join(out_dir, f".partial-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.makedirs(staging)
    try:
        written, reencoded, bad = _write_staged_shards(files, staging, target, sizes)
        if bad:
            listed = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise UserError(
                f"{len(bad)} of {len(files)} inputs cannot be decoded as images: {listed} "
                f"({bad[0]}: {_why_bad(bad[0])}); no shard written"
            )
        for path in existing:
            tf.io.gfile.remove(path)
        final_paths = []
        for staged in written:
            final_path = os.path.join(out_dir, os.path.basename(staged))
            tf.io.gfile.rename(staged, final_path, overwrite=True)
            final_paths.append(final_path)
    except BaseException:
        tf.io.gfile.rmtree(staging)
        if created_out_dir and not tf.io.gfile.listdir(out_dir):
            tf.io.gfile.rmtree(out_dir)
        raise
    tf.io.gfile.rmtree(staging)
    return final_paths, reencoded


def _write_staged_shards(files, staging, target, sizes):
    """Writes the records in file order; returns (shard paths, re-encoded count, bad files)."""
    written, reencoded, decoded_paths = [], 0, set()
    shard_index, in_shard, writer = 0, 0, None
    progress = tqdm.tqdm(total=len(files), desc=f"writing {target} shards", unit="image")
    try:
        for path, payload, was_reencoded, _ in _jpeg_payloads(files).as_numpy_iterator():
            path = path.decode()
            decoded_paths.add(path)
            if writer is None:
                shard_path = os.path.join(
                    staging, f"{target}{shard_index:02d}-{sizes[shard_index]}.tfrec"
                )
                writer = tf.io.TFRecordWriter(shard_path)
                written.append(shard_path)
            name = os.path.splitext(os.path.basename(path))[0]
            writer.write(image_example(name, payload, target).SerializeToString())
            reencoded += int(was_reencoded)
            in_shard += 1
            if in_shard == sizes[shard_index]:
                writer.close()
                writer, shard_index, in_shard = None, shard_index + 1, 0
            progress.update()
    finally:
        if writer is not None:
            writer.close()
        progress.close()
    bad = [path for path in files if path not in decoded_paths]
    return written, reencoded, bad


# ---------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser):
    parser.add_argument("source", metavar="SRC_DIR", help="folder (or glob) of JPEG/PNG images")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder for the .tfrec shards")
    parser.add_argument(
        "--target", default="photo", help="domain label and shard name prefix (default: photo)"
    )
    parser.add_argument("--shards", type=int, default=20, help="number of shards (default: 20)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace shards of this target in OUT_DIR"
    )


def run(args):
    paths, reencoded = write_tfrecords(
        args.source, args.out_dir, target=args.target, shards=args.shards, overwrite=args.overwrite
    )
    total = sum(int(os.path.basename(path).rsplit("-", 1)[1].split(".")[0]) for path in paths)
    names = os.path.basename(paths[0]) + (
        f" ... {os.path.basename(paths[-1])}" if len(paths) > 1 else ""
    )
    note = f"; {reencoded} non-JPEG images re-encoded as JPEG" if reencoded else ""
    print(f"wrote {total} images into {len(paths)} shards in {args.out_dir} ({names}){note}")
    return 0
