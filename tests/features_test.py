"""Tests for monet_gan.metrics.features: choosing and loading a feature network, streaming extraction."""

import io
import zipfile

import keras
import numpy as np
import PIL.Image
import pytest

from monet_gan.errors import UserError
from monet_gan.metrics import features


@pytest.fixture(scope="module")
def random_squeezenet():
    return features.build_feature_network("squeezenet", random_init_for_tests=True)


def random_images(count, size=256, seed=0):
    random = np.random.default_rng(seed)
    return random.integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def png_bytes(image):
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_squeezenet_without_weights_says_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match="--weights PATH"):
        features.build_feature_network("squeezenet")


def test_inception_offline_without_weights_is_one_clear_error(monkeypatch):
    def offline(*args, weights=None, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    with pytest.raises(UserError, match=r"could not be downloaded.*--weights PATH"):
        features.build_feature_network("inception")


def test_inception_loads_a_local_weights_file(tmp_path):
    source = features.build_feature_network("inception", random_init_for_tests=True)
    assert source.dimension == 2048 and not source.is_mifid_network
    path = tmp_path / "inception.weights.h5"
    source.model.save_weights(path)
    loaded = features.build_feature_network("inception", weights=path)
    assert loaded.is_mifid_network and str(path) in loaded.description
    assert len(source.model.weights) == len(loaded.model.weights)
    for expected, actual in zip(source.model.weights, loaded.model.weights):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())
    with pytest.raises(UserError, match=r"not found.*nothing\.h5"):
        features.build_inception(tmp_path / "nothing.h5")


def test_builder_arguments_echo_bad_values():
    with pytest.raises(ValueError, match="'vgg'"):
        features.build_feature_network("vgg")
    with pytest.raises(ValueError, match="w.h5"):
        features.build_feature_network("squeezenet", weights="w.h5", random_init_for_tests=True)


def test_any_batch_and_image_size_and_dtype(random_squeezenet):
    images = random_images(3, size=64)
    from_uint8 = random_squeezenet(images)
    from_float = random_squeezenet(images.astype(np.float32))
    assert from_uint8.shape == (3, 512)
    np.testing.assert_allclose(from_uint8, from_float, rtol=1e-6)
    np.testing.assert_allclose(random_squeezenet(images[:1]), from_uint8[:1], rtol=1e-4, atol=1e-6)


def test_zip_and_folder_give_the_same_features_at_any_batch_size(tmp_path, random_squeezenet):
    # PNG is lossless, so PIL (zips) and TensorFlow (folders) decode the same pixels.
    images = random_images(5, seed=1)
    folder = tmp_path / "folder"
    folder.mkdir()
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:
        for index, image in enumerate(images):
            archive.writestr(f"{index}.png", png_bytes(image))
            (folder / f"{index}.png").write_bytes(png_bytes(image))
    expected = random_squeezenet(images)
    for batch_size in (1, 2, 5):
        from_zip = features.extract_features(
            tmp_path / "images.zip", random_squeezenet, batch_size=batch_size, progress=False
        )
        np.testing.assert_allclose(from_zip, expected, rtol=1e-4, atol=1e-6)
    from_folder = features.extract_features(folder, random_squeezenet, batch_size=2, progress=False)
    np.testing.assert_allclose(from_folder, expected, rtol=1e-4, atol=1e-5)
    assert features.count_source_images(folder) == 5
