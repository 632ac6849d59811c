"""Benchmark: feature extraction speed (images/s) at batch 1 vs batched, and peak memory.

  python bench/feature_extraction.py --images-from ../shared/data/gan-getting-started/photo_jpg \
      --count 200 --batch-sizes 1 50 --feature-nets inception squeezenet

Each (network, batch size) runs in its own process, so its peak resident memory
(`resource.getrusage(...).ru_maxrss`) is its own. The images are the first `--count` JPEGs of the
folder, zipped into a temporary images.zip and read back through the same path as
`python -m monet_gan mifid`, so decoding and resizing are timed too. The networks run with random
weights: speed and memory do not depend on the weights' values, and no InceptionV3 weights can
be had offline. Costs ~4 min on 2 CPU cores with the defaults.

The time for `--extrapolate-to` images is extrapolated linearly from the timed run. Memory does
not grow with the number of images except for the features kept (dimension x 4 bytes per image,
twice while they are concatenated), which the estimate adds.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_zip(folder, count, path):
    """Zips the first `count` images of a folder (sorted by name) into `path`."""
    names = sorted(name for name in os.listdir(folder) if name.lower().endswith(".jpg"))[:count]
    if len(names) < count:
        raise SystemExit(f"{folder} has only {len(names)} JPEGs, fewer than --count {count}")
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.write(os.path.join(folder, name), name)


def measure(zip_path, feature_net, batch_size):
    """Runs in a child process: times one extraction and reports peak memory as JSON."""
    sys.path.insert(0, PROJECT_ROOT)
    from monet_gan.metrics import features

    network = features.build_feature_network(feature_net, random_init_for_tests=True)
    # The first call traces the graph; warm up so the timing is of steady-state batches.
    warm_up = next(features.image_batches(zip_path, batch_size=batch_size))
    network(warm_up)
    start = time.perf_counter()
    values = features.extract_features(zip_path, network, batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - start
    return {
        "feature_net": feature_net,
        "batch_size": batch_size,
        "images": len(values),
        "dimension": network.dimension,
        "seconds": seconds,
        "images_per_second": len(values) / seconds,
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images-from", required=True, help="folder of 256x256 JPEGs")
    parser.add_argument("--count", type=int, default=200, help="images timed per run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 50])
    parser.add_argument(
        "--feature-nets", nargs="+", default=["inception", "squeezenet"],
        choices=["inception", "squeezenet"],
    )
    parser.add_argument("--extrapolate-to", type=int, default=7000)
    parser.add_argument("--child", nargs=3, metavar=("ZIP", "NET", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        zip_path, feature_net, batch_size = args.child
        print(json.dumps(measure(zip_path, feature_net, int(batch_size))))
        return

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as directory:
        zip_path = os.path.join(directory, "images.zip")
        make_zip(args.images_from, args.count, zip_path)
        rows = []
        for feature_net in args.feature_nets:
            for batch_size in args.batch_sizes:
                output = subprocess.run(
                    [sys.executable, __file__, "--images-from", args.images_from,
                     "--child", zip_path, feature_net, str(batch_size)],
                    check=True, capture_output=True, text=True,
                ).stdout
                rows.append(json.loads(output.strip().splitlines()[-1]))

    target = args.extrapolate_to
    print(f"{'network':12s} {'batch':>5s} {'images':>6s} {'img/s':>7s} {'peak MiB':>9s} "
          f"{f'{target} images: min':>17s} {'est. peak MiB':>14s}")
    for row in rows:
        feature_bytes = 2 * (target - row["images"]) * row["dimension"] * 4
        print(
            f"{row['feature_net']:12s} {row['batch_size']:5d} {row['images']:6d} "
            f"{row['images_per_second']:7.1f} {row['peak_memory_mib']:9.0f} "
            f"{target / row['images_per_second'] / 60:17.1f} "
            f"{row['peak_memory_mib'] + feature_bytes / 2**20:14.0f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
