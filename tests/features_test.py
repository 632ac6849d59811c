"""Tests for monet_gan.metrics.features: the SqueezeNet port, weight loading and streaming extraction."""

import io
import zipfile

import h5py
import keras
import numpy as np
import PIL.Image
import pytest

from monet_gan.errors import UserError
from monet_gan.metrics import features

# Keras' automatic layer names; a layer carrying one was built without `name=`.
AUTOMATIC_NAME_PREFIXES = ("conv2d", "max_pooling2d", "concatenate", "global_average_pooling2d")


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


def test_squeezenet_matches_v1_1_and_names_every_layer(random_squeezenet):
    model = random_squeezenet.model
    # SqueezeNet v1.1 has 1,235,496 parameters; its classifier conv10 (512 -> 1000) has 513,000.
    assert model.count_params() == 1_235_496 - 513_000
    assert model.output_shape == (None, 512)
    assert random_squeezenet.dimension == 512
    for layer in model.layers:
        assert not layer.name.startswith(AUTOMATIC_NAME_PREFIXES), layer.name
    assert model.get_layer("fire9_concat").output.shape[1:] == (13, 13, 512)


def test_squeezenet_imagenet_weights_load_and_give_non_negative_features(shared_weights):
    network = features.build_feature_network("squeezenet", weights=shared_weights)
    assert not network.is_mifid_network and "PROXY" in network.description
    with h5py.File(shared_weights, "r") as weights_file:
        np.testing.assert_array_equal(
            network.model.get_layer("fire5_expand3x3").kernel.numpy(),
            weights_file["fire5/expand3x3/uniform13"][()],
        )
        np.testing.assert_array_equal(
            network.model.get_layer("conv1").bias.numpy(), weights_file["conv1/conv1_b"][()]
        )
    values = network(random_images(3))
    # ReLU then average pooling: 512 finite, non-negative features, not all zero.
    assert values.shape == (3, 512) and np.isfinite(values).all()
    assert values.min() >= 0 and (values > 0).mean() > 0.2


def test_squeezenet_weights_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match=r"not found.*missing\.h5"):
        features.build_feature_network("squeezenet", weights=tmp_path / "missing.h5")
    text_file = tmp_path / "notes.h5"
    text_file.write_text("not HDF5")
    with pytest.raises(UserError, match=r"notes\.h5 is not a readable HDF5"):
        features.build_squeezenet(text_file)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as weights_file:
        weights_file["conv1/uniform1"] = np.zeros((3, 3, 3, 32), np.float32)
        weights_file["conv1/conv1_b"] = np.zeros((32,), np.float32)
    with pytest.raises(UserError, match=r"other\.h5.*'conv1' do not fit"):
        features.build_squeezenet(other)


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
