"""`look`: count the images of each domain and save a PNG grid of a few photos and Monets.

A quick check that the data is where the trainer will look and decodes to what it should.
"""

import os

from monet_gan import plots
from monet_gan.data import kaggle_input
from monet_gan.data import pipeline
from monet_gan.data import sources


def add_arguments(parser):
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding monet_tfrec|monet_jpg and photo_tfrec|photo_jpg "
        f"(default: the first of {', '.join(sources.DEFAULT_DATA_DIRS)} that does, then the "
        f"competition under {kaggle_input.INPUT_ROOT} or ${kaggle_input.INPUT_ENV})",
    )
    parser.add_argument("--out", default="look.png", help="PNG to write (default: look.png)")
    parser.add_argument(
        "--count", type=int, default=4, help="images per domain in the grid (default: 4)"
    )


def look(data_dir=None, out="look.png", count=4):
    """Prints the image count per domain and saves `count` images of each as a grid at `out`.

    Returns {domain: image count}.
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    data_dir = sources.find_data_dir(data_dir)
    counts, rows = {}, []
    for domain in ("photo", "monet"):
        source = sources.domain_source(data_dir, domain)
        # The cheap scan names a corrupt file before the grid would fail on it.
        counts[domain] = sources.check_source(source)
        is_tfrecord = sources.source_kind(sources.list_files(source), source) == "tfrecord"
        kind = "TFRecords" if is_tfrecord else "image files"
        print(f"{domain}: {counts[domain]} images in {source} ({kind})")
        with sources.user_errors(source):
            rows.append([image.numpy() for image in pipeline.load_images(source).take(count)])
    plots.save_image_grid(rows, out, row_titles=["photo", "Monet"])
    print(
        f"saved a grid of {len(rows[0])} photos and {len(rows[1])} Monets to {os.path.abspath(out)}"
    )
    return counts


def run(args):
    look(args.data_dir, args.out, args.count)
    return 0
