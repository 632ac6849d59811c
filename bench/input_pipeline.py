"""Input pipeline throughput: training_dataset against bare JPEG decoding, on the real photos.

Run from the project root (about a minute on 2 CPU cores):
    python bench/input_pipeline.py [--images 2000] [--batch-size 8] [--data-dir DIR]

Both rates are measured in the same run over the same photos, after their bytes have been read
once so that the disk cache favours neither. The decode-only rate (read file + decode_jpeg, no
resize, no augmentation, no Monets) is the ceiling; training_dataset also decodes one Monet per
photo, jitters both (resize to 286 px, random crop, flip) and batches them.
"""

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import tensorflow as tf  # noqa: E402

from monet_gan.data import pipeline  # noqa: E402
from monet_gan.data import sources  # noqa: E402

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "gan-getting-started"


def images_per_second(dataset, images_per_element):
    """Iterates `dataset` to the end; the first element (tracing, warm-up) is not timed."""
    iterator = iter(dataset)
    next(iterator)
    count, start = 0, time.perf_counter()
    for _ in iterator:
        count += images_per_element
    return count / (time.perf_counter() - start), count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="photos to read (default 2000)")
    parser.add_argument("--batch-size", type=int, default=8, help="global batch size (default 8)")
    parser.add_argument("--image-size", type=int, default=sources.IMAGE_SIZE)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    args = parser.parse_args()

    photo_files = sources.list_files(os.path.join(args.data_dir, "photo_jpg"))[: args.images]
    monet_source = sources.domain_source(args.data_dir, "monet")
    paths = tf.data.Dataset.from_tensor_slices(photo_files)
    # Read every file once so that both measurements find the bytes in the page cache.
    for _ in paths.map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE).batch(256):
        pass

    decode_only = (
        paths.map(
            lambda path: tf.io.decode_jpeg(tf.io.read_file(path), channels=3),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .batch(args.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    decode_rate, _ = images_per_second(decode_only, args.batch_size)

    training = pipeline.training_dataset(
        photo_files,
        monet_source,
        image_size=args.image_size,
        global_batch_size=args.batch_size,
        augment=True,
        seed=0,
    )
    training_rate, photos = images_per_second(training, args.batch_size)

    cpu = os.cpu_count()
    print(f"{len(photo_files)} photos from {args.data_dir}/photo_jpg, Monets from {monet_source}")
    print(f"{cpu} CPU cores, image size {args.image_size}, batch {args.batch_size}")
    print(f"decode only (read + decode_jpeg):         {decode_rate:8.1f} images/s")
    print(
        f"training_dataset (augment, with Monets):  {training_rate:8.1f} photos/s "
        f"({2 * training_rate:.1f} images/s counting the Monets)"
    )
    print(f"ratio training_dataset / decode only:     {training_rate / decode_rate:8.2f}")


if __name__ == "__main__":
    main()
