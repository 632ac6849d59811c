"""The demo: a complete training run on a synthetic set the package draws itself.

    python -m monet_gan demo --run-dir runs/demo

No downloads and no credentials: it draws simple landscapes as "photos" (hard edges, clean
gradients, sensor noise) and as "paintings" (a softer pastel palette, blurred, covered in short
brush strokes), writes them as JPEG folders in Kaggle's layout, and trains a small CycleGAN at
64 px for a minute or two on a CPU. The run directory then holds everything a real run writes:
sample grids, loss curves, checkpoints, and an exported generator that submit.py accepts.
"""

import os

import numpy as np
from PIL import Image

from monet_gan.training import config as config_lib
from monet_gan.training import train as train_lib

DEMO_SIZE = 64


def draw_landscape(random, size, painted):
    """One landscape: sky, hills, a sun and a lake, as a photo or as a painting of it."""
    rows = np.linspace(0.0, 1.0, size)[:, None, None]
    horizon = random.uniform(0.45, 0.7)
    sky_top = random.uniform([0.1, 0.3, 0.6], [0.3, 0.5, 0.9])
    sky_bottom = random.uniform([0.6, 0.7, 0.8], [0.9, 0.9, 1.0])
    ground = random.uniform([0.1, 0.3, 0.05], [0.3, 0.55, 0.2])
    image = sky_top + (sky_bottom - sky_top) * rows
    image = np.broadcast_to(image, (size, size, 3)).copy()

    columns = np.arange(size)[None, :]
    ridge = horizon * size + 0.08 * size * np.sin(columns / size * random.uniform(4, 9) + random.uniform(0, 6))
    below_ridge = np.arange(size)[:, None] > ridge
    image[below_ridge] = ground * random.uniform(0.8, 1.2)

    sun_row, sun_column = random.uniform(0.1, 0.35) * size, random.uniform(0.15, 0.85) * size
    yy, xx = np.mgrid[:size, :size]
    sun = (yy - sun_row) ** 2 + (xx - sun_column) ** 2 < (random.uniform(0.05, 0.1) * size) ** 2
    image[sun] = [1.0, 0.9, 0.6]

    lake = (yy > 0.8 * size) & (np.abs(xx - size / 2) < random.uniform(0.2, 0.4) * size)
    image[lake] = image[lake] * 0.5 + np.array([0.2, 0.35, 0.6]) * 0.5

    if painted:
        # Monet's palette: lighter, warmer, less saturated, with soft edges and visible strokes.
        image = 0.55 * image + 0.45 * np.array([0.85, 0.75, 0.7])
        image = _box_blur(image, radius=2)
        for _ in range(size * 3):
            row, column = random.integers(0, size, 2)
            length = random.integers(2, 6)
            tint = random.normal(0.0, 0.08, 3)
            image[row, column : column + length] += tint
    else:
        image = image + random.normal(0.0, 0.02, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def _box_blur(image, radius):
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    window = 2 * radius + 1
    total = np.zeros_like(image)
    for row_offset in range(window):
        for column_offset in range(window):
            total += padded[row_offset : row_offset + image.shape[0], column_offset : column_offset + image.shape[1]]
    return total / window**2


def make_demo_data(data_dir, photo_count=96, painting_count=48, size=DEMO_SIZE, seed=0):
    """Writes `photo_jpg/` and `monet_jpg/` folders of synthetic images; returns data_dir."""
    random = np.random.default_rng(seed)
    for folder, count, painted in (("photo_jpg", photo_count, False), ("monet_jpg", painting_count, True)):
        os.makedirs(os.path.join(data_dir, folder), exist_ok=True)
        for index in range(count):
            path = os.path.join(data_dir, folder, f"{folder[:5]}{index:04d}.jpg")
            Image.fromarray(draw_landscape(random, size, painted)).save(path, quality=95)
    return data_dir


def demo_config(**overrides):
    """A configuration small enough to train in a few minutes on two CPU cores."""
    values = dict(
        image_size=DEMO_SIZE,
        generator="resnet",
        generator_filters=16,
        num_residual_blocks=3,
        discriminator_filters=16,
        epochs=4,
        steps_per_epoch=24,
        batch_size=4,
        pool_size=16,
        sample_count=4,
        seed=0,
    )
    values.update(overrides)
    return config_lib.TrainConfig(**values)


def run_demo(run_dir, epochs=None, steps_per_epoch=None):
    data_dir = make_demo_data(os.path.join(run_dir, "demo_data"))
    config = demo_config().replace(epochs=epochs, steps_per_epoch=steps_per_epoch)
    summary = train_lib.train(config, run_dir, data_dir=data_dir)
    print(f"demo done: open {os.path.join(run_dir, 'samples')} and {os.path.join(run_dir, 'loss_curves.png')}")
    return summary


def add_arguments(parser):
    parser.add_argument("--run-dir", default=os.path.join("runs", "demo"), help="default: runs/demo")
    parser.add_argument("--backend", choices=("tensorflow", "jax"),
                        help="Keras backend (default: KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--epochs", type=int, help="default: 4")
    parser.add_argument("--steps-per-epoch", type=int, help="default: 24")


def run(args):
    run_demo(args.run_dir, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
