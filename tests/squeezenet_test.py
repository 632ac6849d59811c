"""Tests for monet_gan.metrics.squeezenet: the SqueezeNet v1.1 port and its Keras-1 weights."""

import h5py
import numpy as np
import pytest

from monet_gan.errors import UserError
from monet_gan.metrics import features
from monet_gan.metrics import squeezenet

# Keras' automatic layer names; a layer carrying one was built without `name=`.
AUTOMATIC_NAME_PREFIXES = ("conv2d", "max_pooling2d", "concatenate", "global_average_pooling2d")


@pytest.fixture(scope="module")
def random_squeezenet():
    return features.build_feature_network("squeezenet", random_init_for_tests=True)


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
    values = network(np.random.default_rng(0).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8))
    # ReLU then average pooling: 512 finite, non-negative features, not all zero.
    assert values.shape == (3, 512) and np.isfinite(values).all()
    assert values.min() >= 0 and (values > 0).mean() > 0.2


def test_squeezenet_weights_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match=r"not found.*missing\.h5"):
        features.build_feature_network("squeezenet", weights=tmp_path / "missing.h5")
    text_file = tmp_path / "notes.h5"
    text_file.write_text("not HDF5")
    with pytest.raises(UserError, match=r"notes\.h5 is not a readable HDF5"):
        squeezenet.build_squeezenet(text_file)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as weights_file:
        weights_file["conv1/uniform1"] = np.zeros((3, 3, 3, 32), np.float32)
        weights_file["conv1/conv1_b"] = np.zeros((32,), np.float32)
    with pytest.raises(UserError, match=r"other\.h5.*'conv1' do not fit"):
        squeezenet.build_squeezenet(other)
