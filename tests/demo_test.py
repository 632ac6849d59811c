"""The built-in synthetic data set and the demo's configuration."""

import os

import numpy as np
from PIL import Image

from monet_gan import demo
from monet_gan.training import config as config_lib


def roughness(images):
    """The mean difference between horizontally neighbouring pixels."""
    return np.abs(np.diff(images.astype(float), axis=2)).mean()


def test_demo_data_has_kaggle_layout_and_two_distinct_styles(tmp_path):
    data_dir = demo.make_demo_data(str(tmp_path / "data"), photo_count=6, painting_count=4, size=32)
    photos = sorted(os.listdir(os.path.join(data_dir, "photo_jpg")))
    paintings = sorted(os.listdir(os.path.join(data_dir, "monet_jpg")))
    assert len(photos) == 6 and len(paintings) == 4
    assert all(name.endswith(".jpg") for name in photos + paintings)

    def load(folder, names):
        return np.stack([np.asarray(Image.open(os.path.join(data_dir, folder, name))) for name in names])

    photo_pixels, painting_pixels = load("photo_jpg", photos), load("monet_jpg", paintings)
    assert photo_pixels.shape == (6, 32, 32, 3) and painting_pixels.shape == (4, 32, 32, 3)
    # Paintings are blurred: neighbouring pixels differ less than in the noisy photos.
    assert roughness(painting_pixels) < roughness(photo_pixels)


def test_demo_data_is_the_same_for_the_same_seed(tmp_path):
    first = demo.make_demo_data(str(tmp_path / "a"), photo_count=2, painting_count=2, size=32)
    second = demo.make_demo_data(str(tmp_path / "b"), photo_count=2, painting_count=2, size=32)
    for folder in ("photo_jpg", "monet_jpg"):
        for name in os.listdir(os.path.join(first, folder)):
            with open(os.path.join(first, folder, name), "rb") as a, open(os.path.join(second, folder, name), "rb") as b:
                assert a.read() == b.read()


def test_demo_config_is_a_valid_small_run_and_takes_overrides():
    config = demo.demo_config()
    assert isinstance(config, config_lib.TrainConfig)
    assert config.image_size == demo.DEMO_SIZE == 64
    assert config.epochs * config.steps_per_epoch * config.batch_size < 1000
    assert demo.demo_config(epochs=1).epochs == 1
