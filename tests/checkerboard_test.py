"""The checkerboard measure: flat for smooth images, tens of dB for a stride-2 grid, relative to reals."""

import glob
import os

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from monet_gan.metrics import checkerboard


def smooth_images(count=8, size=64, seed=0):
    """Blurred noise scaled to 0-255: a smooth spectrum, like a photo's, with no grid in it."""
    random = np.random.default_rng(seed)
    images = np.stack([
        scipy.ndimage.gaussian_filter(random.normal(size=(size, size, 3)), (2, 2, 0))
        for _ in range(count)
    ])
    return (images - images.min()) / (images.max() - images.min()) * 255.0


def with_grid(images, amplitude, period):
    """Adds a pattern repeating every `period` pixels on both axes, as stride-2 upsampling leaves."""
    rows, columns = np.indices(images.shape[1:3])
    pattern = np.where((rows % period < period // 2) ^ (columns % period < period // 2), 1.0, -1.0)
    return images + amplitude * pattern[None, :, :, None]


def test_smooth_images_score_low_and_a_faint_grid_scores_tens_of_db():
    smooth = smooth_images()
    flat = checkerboard.score_images(smooth)
    assert -2.0 < flat < 3.0
    for period in (2, 4):
        # One grey level in 255 is enough to stand out of the averaged spectrum.
        assert checkerboard.score_images(with_grid(smooth, amplitude=1.0, period=period)) > flat + 20.0


def test_the_meter_adds_up_batches_and_compare_reports_the_excess():
    smooth = with_grid(smooth_images(count=6), amplitude=0.5, period=2)
    meter = checkerboard.CheckerboardMeter()
    meter.update(smooth[:4])
    meter.update(smooth[4:])
    assert meter.result() == pytest.approx(checkerboard.score_images(smooth))
    report = checkerboard.compare(5.0, 1.5)
    assert report == {"checkerboard_db": 5.0, "checkerboard_real_db": 1.5, "checkerboard_excess_db": 3.5}
    with pytest.raises(ValueError, match="seen no images"):
        checkerboard.CheckerboardMeter().result()


def test_grayscale_and_bad_shapes():
    gray = smooth_images(count=2).mean(axis=-1)
    assert np.isfinite(checkerboard.score_images(gray))
    with pytest.raises(ValueError, match="square"):
        checkerboard.score_images(np.zeros((2, 32, 16, 3)))
    with pytest.raises(ValueError, match="multiple of the grid period"):
        checkerboard.score_images(np.zeros((2, 30, 30, 3)))


@pytest.mark.real_data
def test_real_monets_and_photos_score_alike_and_a_grid_stands_out(shared_data):
    # Both are JPEGs, whose 8x8 blocks put some energy at the grid frequencies too: this is why
    # the measure is read relative to the real images.
    def load(folder):
        paths = sorted(glob.glob(os.path.join(shared_data, folder, "*.jpg")))[:64]
        return np.stack([np.asarray(Image.open(path)) for path in paths]).astype(np.float64)

    monets, photos = load("monet_jpg"), load("photo_jpg")
    monet_db = checkerboard.score_images(monets)
    assert abs(checkerboard.score_images(photos) - monet_db) < 3.0
    assert checkerboard.score_images(with_grid(photos, amplitude=2.0, period=2)) > monet_db + 20.0


@pytest.mark.real_data
def test_untrained_transposed_generators_paint_a_grid_and_resize_convolutions_do_not(shared_data):
    # Odena et al.'s observation, measured: the uneven overlap of stride-2 transposed convolutions
    # paints a grid from the first step, before any training could add or remove one.
    import keras

    from monet_gan.networks import generators

    paths = sorted(glob.glob(os.path.join(shared_data, "photo_jpg", "*.jpg")))[:16]
    photos = np.stack([np.asarray(Image.open(path).resize((64, 64), Image.BILINEAR)) for path in paths])
    photo_db = checkerboard.score_images(photos.astype(np.float64))
    scores = {}
    for upsampling in ("transposed", "nearest"):
        scores[upsampling] = []
        for seed in (0, 1):
            keras.utils.set_random_seed(seed)
            generator = generators.build_generator(
                "resnet", image_size=64, filters=16, num_residual_blocks=3, upsampling=upsampling
            )
            paintings = (np.asarray(generator(photos.astype("float32") / 127.5 - 1.0)) + 1.0) * 127.5
            scores[upsampling].append(checkerboard.score_images(paintings))
    assert np.mean(scores["transposed"]) > photo_db + 8.0, scores
    assert np.mean(scores["nearest"]) < photo_db + 3.0, scores
