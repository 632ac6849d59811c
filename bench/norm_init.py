"""Measurement: the generators' and discriminators' signal at initialization, per gamma init.

Run from the project root (about a minute on 2 CPU cores):
    python bench/norm_init.py [--image-size 256] [--photos 4]

Builds the default ResNet-9 and U-Net generators and the PatchGAN discriminator with each
`norm_gamma_init` ("ones", "tutorial"), feeds a batch of real photos (the shared data beside
the project), and prints for every network the per-channel standard deviation of the instance
norms' outputs (median and range over the norms) and the standard deviation of the output.
docs/quality.md quotes its numbers.
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from monet_gan.data import pipeline  # noqa: E402
from monet_gan.networks import discriminators  # noqa: E402
from monet_gan.networks import generators  # noqa: E402
from monet_gan.networks import initializers  # noqa: E402
from monet_gan.networks import layers  # noqa: E402

PHOTOS = PROJECT_ROOT.parent / "shared" / "data" / "gan-getting-started" / "photo_jpg"


def norm_probe(model):
    """A model returning every instance norm's output, then the network's own output."""
    norms = [layer for layer in model.layers if isinstance(layer, layers.InstanceNormalization)]
    return norms, keras.Model(model.input, [layer.output for layer in norms] + [model.output])


def channel_stds(values):
    """The standard deviation over the spatial axes of every (sample, channel)."""
    return np.std(np.asarray(values, np.float64), axis=(1, 2))


def describe(name, model, photos):
    norms, probe = norm_probe(model)
    outputs = probe(photos, training=False)
    medians = [float(np.median(channel_stds(values))) for values in outputs[:-1]]
    dead = [layer.name for layer, median in zip(norms, medians) if median < 0.5]
    print(
        f"{name:32s} norms {len(norms):2d}: per-channel std median {np.median(medians):.3f}, "
        f"min {min(medians):.2e}, max {max(medians):.3f}; output std "
        f"{float(np.std(outputs[-1])):.2e}; norms below 0.5: {dead or 'none'}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--photos", type=int, default=4)
    args = parser.parse_args()
    photos = np.stack(list(
        pipeline.load_images(str(PHOTOS), args.image_size).take(args.photos).as_numpy_iterator()
    ))
    for norm_gamma_init in initializers.NORM_GAMMA_INITS:
        keras.utils.set_random_seed(0)
        for architecture in generators.ARCHITECTURES:
            model = generators.build_generator(
                architecture, image_size=args.image_size, norm_gamma_init=norm_gamma_init
            )
            describe(f"{architecture} ({norm_gamma_init})", model, photos)
        model = discriminators.build_discriminator(
            args.image_size, norm_gamma_init=norm_gamma_init
        )
        describe(f"discriminator ({norm_gamma_init})", model, photos)


if __name__ == "__main__":
    main()
