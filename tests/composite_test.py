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


def _compiled_model_and_batch(seed, **config_overrides):
    """A compiled smoke-sized CycleGAN and one seeded batch of photos and Monets."""
    keras.utils.set_random_seed(seed)
    config = config_lib.TrainConfig.smoke(**config_overrides)
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=10)
    random = np.random.default_rng(seed)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    photos = tf.constant(random.uniform(-1, 1, shape), tf.float32)
    monets = tf.constant(random.uniform(-1, 1, shape), tf.float32)
    return model, photos, monets


@pytest.fixture()
def model_and_batch():
    return _compiled_model_and_batch(0, pool_size=2, diffaugment_policy="color,translation,cutout")


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
    before = _snapshot(model)
    composite.update_discriminator(
        model.monet_discriminator, model.optimizers["monet_discriminator"], monets, fakes_monet, model.config,
        model.discriminator_augmentation,
    )
    assert _changed(before, _snapshot(model)) == {"monet_discriminator"}


@pytest.mark.parametrize("trained", cyclegan.NETWORK_NAMES)
def test_each_optimizer_of_the_step_changes_only_its_own_network(model_and_batch, trained):
    model, photos, monets = model_and_batch
    _, _, gradients = model.compute_gradients(photos, monets)
    before = _snapshot(model)
    model.optimizers[trained].apply(gradients[trained], model.networks[trained].trainable_variables)
    assert _changed(before, _snapshot(model)) == {trained}


def _shared_weight_model():
    """No augmentation and no dropout, so the step and the composites see identical forwards."""
    return _compiled_model_and_batch(3, diffaugment_policy="", dropout_rate=0.0, pool_size=0)


def test_each_composite_loss_and_gradient_equal_what_the_shared_step_uses():
    model, photos, monets = _shared_weight_model()
    generators, _, step_gradients = model.compute_gradients(photos, monets)
    for direction, name, (source, target) in (
        ("painting", "photo_to_monet", (photos, monets)),
        ("photography", "monet_to_photo", (monets, photos)),
    ):
        result, composite_gradients = getattr(model, direction).loss_and_gradients(source, target)
        for term in ("total", "adversarial", "cycle", "identity"):
            np.testing.assert_allclose(
                result["per_example"][term], generators[direction][term], rtol=1e-5, err_msg=term
            )
        for composite_gradient, step_gradient in zip(composite_gradients, step_gradients[name]):
            scale = float(np.max(np.abs(composite_gradient))) + 1e-12
            np.testing.assert_allclose(step_gradient, composite_gradient, rtol=1e-4, atol=1e-5 * scale)


def test_the_step_runs_six_generator_passes(model_and_batch, monkeypatch):
    model, photos, monets = model_and_batch
    calls = []
    for name in cyclegan.GENERATOR_NAMES:
        network = model.networks[name]
        original = network.call
        monkeypatch.setattr(network, "call", lambda *args, _original=original, _name=name, **kwargs: (
            calls.append(_name) or _original(*args, **kwargs)))
    model.train_step((photos, monets))
    assert sorted(calls) == ["monet_to_photo"] * 3 + ["photo_to_monet"] * 3


def test_the_logged_cycle_loss_counts_each_cycle_once():
    model, photos, monets = _shared_weight_model()
    # The terms at the step's starting weights, from the photo->Monet composite: both cycles.
    per_example, _ = model.painting.generator_losses(photos, monets)
    logs = model.train_step((photos, monets))
    np.testing.assert_allclose(float(logs["cycle_loss"]), float(np.mean(per_example["cycle"])), rtol=1e-5)


def _pinned_model():
    """A tiny model whose weights come from NumPy's seeded generator, not from a backend's."""
    config = config_lib.TrainConfig.smoke(
        diffaugment_policy="", dropout_rate=0.0, pool_size=0, generator_filters=4, discriminator_filters=4,
        num_residual_blocks=1, image_size=32,
    )
    model = cyclegan.CycleGAN(config)
    random = np.random.default_rng(7)
    for variable in model.trainable_variables:
        variable.assign(random.normal(0.0, 0.2, variable.shape).astype("float32"))
    images = np.linspace(-1.0, 1.0, 2 * 32 * 32 * 3, dtype="float32").reshape(2, 32, 32, 3)
    return model, images, images[:, ::-1] * 0.8


# The joint generator loss of `_pinned_model` on its fixed images; written down, not recomputed.
PINNED_GENERATOR_LOSS = 24.64558


def test_generator_loss_of_a_fixed_tiny_network_is_pinned():
    model, photos, monets = _pinned_model()
    loss = float(model.generator_phase(photos, monets)["loss"])
    np.testing.assert_allclose(loss, PINNED_GENERATOR_LOSS, rtol=1e-4)

    # The mutations the pin guards against move the loss well outside its tolerance.
    config = model.config
    outputs = {
        "fake_monets": model.photo_to_monet(photos), "fake_photos": model.monet_to_photo(monets),
    }
    monet_verdicts = model.monet_discriminator(outputs["fake_monets"])
    photo_verdicts = model.photo_discriminator(outputs["fake_photos"])
    same_monets, same_photos = model.photo_to_monet(monets), model.monet_to_photo(photos)

    def joint(config, cycled_photos, cycled_monets):
        painting = composite.direction_terms(
            config, photos, monets, monet_verdicts, same_monets, cycled_photos, cycled_monets
        )
        photography = composite.direction_terms(
            config, monets, photos, photo_verdicts, same_photos, cycled_monets, cycled_photos
        )
        return float(np.mean(composite.joint_generator_loss(config, painting, photography)))

    right_cycles = (model.monet_to_photo(outputs["fake_monets"]), model.photo_to_monet(outputs["fake_photos"]))
    np.testing.assert_allclose(joint(config, *right_cycles), PINNED_GENERATOR_LOSS, rtol=1e-4)
    # Swapped generators in the cycles: photo -> Monet -> Monet and Monet -> photo -> photo.
    swapped_cycles = (model.photo_to_monet(outputs["fake_monets"]), model.monet_to_photo(outputs["fake_photos"]))
    # The identity term weighted 0.5 instead of 5 (identity_weight 0.05 of the cycle weight 10).
    light_identity = config.replace(identity_weight=0.05)
    assert config.identity_loss_weight == 5.0 and light_identity.identity_loss_weight == 0.5
    for mutated in (joint(config, *swapped_cycles), joint(light_identity, *right_cycles)):
        # Each would fail the pin's assertion above by more than ten times its tolerance.
        assert abs(mutated - PINNED_GENERATOR_LOSS) > 10 * 1e-4 * PINNED_GENERATOR_LOSS, mutated


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
