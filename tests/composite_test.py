"""The freezing contract: each update changes its own network and leaves the others bit-identical.

The DiffAugmentation layer's tests at the end are backend-agnostic (marked for the JAX run).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import compiled

from monet_gan.training import composite
from monet_gan.training import config as config_lib
from monet_gan.training import cyclegan


def _snapshot(model):
    return {name: [v.numpy() for v in network.weights] for name, network in model.networks.items()}


def _changed(before, after):
    """Names of the networks whose weights differ at all between two snapshots."""
    return {
        name
        for name in before
        if any(not np.array_equal(old, new) for old, new in zip(before[name], after[name]))
    }


@pytest.fixture()
def model_and_batch():
    keras.utils.set_random_seed(0)
    config = config_lib.TrainConfig.smoke(pool_size=2, diffaugment_policy="color,translation,cutout")
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=10)
    random = np.random.default_rng(0)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    photos = tf.constant(random.uniform(-1, 1, shape), tf.float32)
    monets = tf.constant(random.uniform(-1, 1, shape), tf.float32)
    return model, photos, monets


def test_composite_lists_frozen_networks_so_explicit_variable_lists_are_needed(model_and_batch):
    model, _, _ = model_and_batch
    composite = model.painting.composite
    # The composite reaches all three networks: training "composite.trainable_variables", as a
    # Keras 3 port of the compile-time freezing trick would, updates the discriminator too.
    assert len(composite.trainable_variables) == (
        len(model.photo_to_monet.trainable_variables)
        + len(model.monet_to_photo.trainable_variables)
        + len(model.monet_discriminator.trainable_variables)
    )


def test_one_train_step_changes_all_four_networks(model_and_batch):
    model, photos, monets = model_and_batch
    before = _snapshot(model)
    logs = model.train_step((photos, monets))
    assert _changed(before, _snapshot(model)) == set(cyclegan.NETWORK_NAMES)
    assert set(logs) == set(cyclegan.METRIC_NAMES)
    assert all(np.isfinite(float(value)) for value in logs.values())


@pytest.mark.parametrize(
    "direction, trained",
    [("painting", "photo_to_monet"), ("photography", "monet_to_photo")],
)
def test_composite_update_changes_only_its_forward_generator(model_and_batch, direction, trained):
    model, photos, monets = model_and_batch
    source, target = (photos, monets) if direction == "painting" else (monets, photos)
    before = _snapshot(model)
    getattr(model, direction).update_generator(model.optimizers[trained], source, target)
    assert _changed(before, _snapshot(model)) == {trained}


def test_each_discriminator_changes_only_in_its_own_update(model_and_batch):
    model, photos, monets = model_and_batch
    fakes_monet = model.photo_to_monet(photos)
    fakes_photo = model.monet_to_photo(monets)
    before = _snapshot(model)
    model.update_discriminators(photos, monets, fakes_monet, fakes_photo)
    assert _changed(before, _snapshot(model)) == {"monet_discriminator", "photo_discriminator"}

    before = _snapshot(model)
    composite.update_discriminator(
        model.monet_discriminator, model.optimizers["monet_discriminator"], monets, fakes_monet, model.config
    )
    assert _changed(before, _snapshot(model)) == {"monet_discriminator"}


def test_composite_outputs_every_term_of_the_generator_loss(model_and_batch):
    model, photos, monets = model_and_batch
    outputs = model.painting.composite([photos, monets])
    assert set(outputs) == {"fake", "verdict", "identity", "forward_cycle", "backward_cycle"}
    for name in ("fake", "identity", "forward_cycle", "backward_cycle"):
        assert outputs[name].shape == photos.shape
    np.testing.assert_allclose(outputs["fake"], model.photo_to_monet(photos), atol=1e-5)


# The DiffAugmentation layer is backend-agnostic; the tests above need TensorFlow's train step.


def _augmenting_model(policy, seed):
    inputs = keras.Input((8, 8, 3), name="images")
    layer = composite.DiffAugmentation(policy, seed=seed, name="diff_augment")
    return keras.Model(inputs, layer(inputs), name="augmenting")


def _images():
    return np.random.default_rng(1).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")


@pytest.mark.backend_agnostic
def test_diff_augmentation_without_a_policy_is_the_identity_and_has_no_state():
    layer = composite.DiffAugmentation("", name="diff_augment")
    images = _images()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images)), images)
    assert layer.variables == []
    with pytest.raises(ValueError, match="'blur'"):
        composite.DiffAugmentation("color,blur")
    with pytest.raises(ValueError, match="seed=1.5"):
        composite.DiffAugmentation("color", seed=1.5)


@pytest.mark.backend_agnostic
def test_diff_augmentation_draws_anew_each_call_and_its_saved_stream_resumes(tmp_path):
    model = _augmenting_model("color,translation,cutout", seed=3)
    images = _images()
    first, second = (keras.ops.convert_to_numpy(model(images)) for _ in range(2))
    assert not np.array_equal(first, second)
    # The seed state is the layer's only variable, and is saved with the model's weights.
    assert [variable.name for variable in model.non_trainable_variables] == ["seed_generator_state"]
    path = str(tmp_path / "augmenting.weights.h5")
    model.save_weights(path)
    resumed = _augmenting_model("color,translation,cutout", seed=4)
    resumed.load_weights(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(resumed(images)), keras.ops.convert_to_numpy(model(images)))
    config = model.get_layer("diff_augment").get_config()
    assert config["policy"] == "color,translation,cutout" and config["seed"] == 3


@pytest.mark.backend_agnostic
def test_diff_augmentation_in_a_stateless_call_returns_its_advanced_seed_state():
    layer = composite.DiffAugmentation("color", seed=5, name="diff_augment")
    twin = composite.DiffAugmentation("color", seed=5, name="twin")
    images = _images()
    layer.build(images.shape)
    state = [variable.value for variable in layer.non_trainable_variables]
    step = compiled(lambda state, images: layer.stateless_call([], state, images), jit_compile=False)
    outputs, new_state = step(state, images)
    # The compiled stateless call draws what the stateful one draws, and returns the advanced
    # state instead of assigning it.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), keras.ops.convert_to_numpy(twin(images)), atol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(new_state[0]), keras.ops.convert_to_numpy(twin.seed_generator.state))
    assert not np.array_equal(keras.ops.convert_to_numpy(layer.seed_generator.state), keras.ops.convert_to_numpy(new_state[0]))
