"""The recipe in the product: DiffAugment on the generator's path, the generator EMA, the defaults, monitoring."""

import csv
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import two_cpu_strategy

from monet_gan import demo
from monet_gan import plots
from monet_gan import run_folder
from monet_gan.data import pipeline
from monet_gan.data import sources
from monet_gan.generation import trained_generator
from monet_gan.training import config as config_lib
from monet_gan.training import cyclegan
from monet_gan.training import diffaugment
from monet_gan.training import train as train_lib

ACCURACY_COLUMNS = ("monet_real_accuracy", "monet_fake_accuracy", "photo_real_accuracy", "photo_fake_accuracy")


def _batch(config, seed=0):
    random = np.random.default_rng(seed)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    return (tf.constant(random.uniform(-1, 1, shape), tf.float32),
            tf.constant(random.uniform(-1, 1, shape), tf.float32))


@pytest.fixture()
def augmentation_calls(monkeypatch):
    """Records (input, output) of every DiffAugment call the DiffAugmentation layers make."""
    calls = []
    original = diffaugment.diff_augment

    def recording(images, *args, **kwargs):
        augmented = original(images, *args, **kwargs)
        calls.append((images, augmented))
        return augmented

    monkeypatch.setattr(diffaugment, "diff_augment", recording)
    return calls


# ----------------------------------------------------------------------------------------------
# DiffAugment on the generator's path.


def test_adversarial_gradient_reaches_the_generator_through_the_augmentation(augmentation_calls):
    keras.utils.set_random_seed(0)
    config = config_lib.TrainConfig.smoke()
    assert diffaugment.parse_policy(config.diffaugment_policy) == ["color", "translation", "cutout"]
    model = cyclegan.CycleGAN(config)
    photos, monets = _batch(config)
    variables = model.photo_to_monet.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        per_example, outputs = model.painting.generator_losses(photos, monets)
        adversarial = tf.reduce_mean(per_example["adversarial"])
    # In the photo->Monet composite the augmentation runs once, on the generator's fake.
    ((fake, augmented),) = augmentation_calls
    np.testing.assert_array_equal(fake, outputs["fake"])
    assert augmented.shape == fake.shape and not np.allclose(augmented, fake)
    # The adversarial term reaches the augmented view, the fake before it, and every weight of
    # the generator behind it.
    assert float(tf.norm(tape.gradient(adversarial, augmented))) > 0
    assert float(tf.norm(tape.gradient(adversarial, fake))) > 0
    gradients = tape.gradient(adversarial, variables)
    assert all(gradient is not None for gradient in gradients)
    assert all(float(tf.norm(gradient)) > 0 for gradient in gradients if gradient.shape.rank > 1)


def test_with_an_empty_policy_the_verdict_is_the_discriminator_of_the_fake(augmentation_calls):
    keras.utils.set_random_seed(0)
    model = cyclegan.CycleGAN(config_lib.TrainConfig.smoke(diffaugment_policy=""))
    photos, monets = _batch(model.config)
    outputs = model.painting.composite([photos, monets], training=False)
    expected = model.monet_discriminator(model.photo_to_monet(photos, training=False), training=False)
    np.testing.assert_allclose(outputs["verdict"], expected, rtol=1e-6, atol=1e-6)
    # The discriminator updates' augmentation passes real images through untouched as well.
    assert model.discriminator_augmentation(monets) is monets
    assert augmentation_calls == []


def test_every_discriminator_input_of_a_step_is_augmented_with_the_same_policy(augmentation_calls):
    keras.utils.set_random_seed(0)
    config = config_lib.TrainConfig.smoke(pool_size=0)
    model = cyclegan.CycleGAN(config)
    model.compile(total_steps=4)
    layers = [model.discriminator_augmentation] + [
        direction.composite.get_layer("diff_augment") for direction in (model.painting, model.photography)
    ]
    assert {layer.policy for layer in layers} == {config.diffaugment_policy}
    photos, monets = _batch(config)
    model.train_step((photos, monets))
    # Both composites' fakes, then each discriminator's real images and (pooled) fakes.
    assert len(augmentation_calls) == 6
    np.testing.assert_array_equal(augmentation_calls[2][0], monets)
    np.testing.assert_array_equal(augmentation_calls[4][0], photos)
    for images, augmented in augmentation_calls:
        assert augmented.shape == images.shape and augmented.dtype == images.dtype


# ----------------------------------------------------------------------------------------------
# The generator EMA.


def test_ema_under_mirrored_strategy_is_the_same_on_both_replicas_and_follows_the_formula():
    keras.utils.set_random_seed(0)
    strategy = two_cpu_strategy()
    config = config_lib.TrainConfig.smoke(batch_size=4, ema_decay=0.9, num_residual_blocks=1)
    with strategy.scope():
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=10)
    optimizer = model.optimizers["photo_to_monet"]
    averages = optimizer._model_variables_moving_average
    live = model.photo_to_monet.trainable_variables
    photos, _ = _batch(config)
    dataset = tf.data.Dataset.from_tensor_slices(photos).batch(4).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    # The average depends on the optimizer and the weights, not on the loss: a plain L1 loss on
    # the generator alone keeps the trace (most of this test's time) a third of the composite's.
    def replica_step(photos):
        with tf.GradientTape() as tape:
            paintings = model.photo_to_monet(photos, training=True)
            per_example = tf.reduce_mean(tf.abs(paintings - photos), axis=[1, 2, 3])
            loss = tf.nn.compute_average_loss(per_example)
        optimizer.apply_gradients(zip(tape.gradient(loss, live), live))

    @tf.function
    def update_photo_to_monet():
        strategy.run(replica_step, args=(next(iterator),))

    def replica_values(variables):
        """Each variable's value, after checking that both replicas hold the same one."""
        values = []
        for variable in variables:
            # A Keras variable wraps the tf.Variable the strategy mirrors; `.value` is that one.
            first, second = (np.asarray(value) for value in strategy.experimental_local_results(variable.value))
            np.testing.assert_array_equal(first, second)
            values.append(first)
        return values

    update_photo_to_monet()
    # The first step starts the average at the weights themselves.
    for average, value in zip(replica_values(averages), replica_values(live)):
        np.testing.assert_allclose(average, value, rtol=1e-6)
    previous = replica_values(averages)
    update_photo_to_monet()
    current, weights = replica_values(averages), replica_values(live)
    for average, old, value in zip(current, previous, weights):
        np.testing.assert_allclose(average, 0.9 * old + 0.1 * value, rtol=1e-5, atol=1e-7)
    # The weights did move, so the average now trails them.
    assert any(not np.allclose(average, value) for average, value in zip(current, weights))
    assert int(optimizer.iterations.numpy()) == 2


@pytest.fixture(scope="module")
def monitored_run(tmp_path_factory):
    """A 2-epoch smoke run, with the rows of every sample grid it drew."""
    data_dir = demo.make_demo_data(str(tmp_path_factory.mktemp("data")), photo_count=8, painting_count=4, size=32)
    run_dir = str(tmp_path_factory.mktemp("run"))
    grids = []
    original = plots.save_image_grid

    def recording(rows, path, *args, **kwargs):
        grids.append((os.path.basename(path), rows))
        return original(rows, path, *args, **kwargs)

    keras.utils.set_random_seed(0)
    config = config_lib.TrainConfig.smoke(epochs=2, steps_per_epoch=1, ema_decay=0.9, num_residual_blocks=1, seed=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "save_image_grid", recording)
        summary = train_lib.train(config, run_dir, data_dir=data_dir, verbose=0)
    return dict(data_dir=data_dir, run_dir=run_dir, grids=grids, summary=summary, config=config)


def test_ema_export_reloads_and_paints_what_the_averaged_weights_paint(monitored_run):
    run_dir, model = monitored_run["run_dir"], monitored_run["summary"]["model"]
    photos = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    averaged = keras.models.clone_model(model.photo_to_monet)
    averaged.set_weights(model.photo_to_monet.get_weights())
    for variable, average in zip(averaged.trainable_variables,
                                 model.optimizers["photo_to_monet"]._model_variables_moving_average):
        variable.assign(average)
    ema = keras.saving.load_model(os.path.join(run_dir, run_folder.EMA_GENERATOR_FILE))
    ema_paintings = np.asarray(ema(photos, training=False))
    np.testing.assert_allclose(ema_paintings, averaged(photos, training=False), atol=1e-6)
    # The export put the live weights back, and the raw file holds them: the two files differ.
    raw = keras.saving.load_model(os.path.join(run_dir, run_folder.GENERATOR_FILE))
    raw_paintings = np.asarray(raw(photos, training=False))
    np.testing.assert_allclose(raw_paintings, model.photo_to_monet(photos, training=False), atol=1e-6)
    assert not np.array_equal(raw_paintings, ema_paintings)
    # submit.py's loader takes the EMA generator of a run directory by default.
    default = trained_generator.load_generator(run_dir)
    np.testing.assert_allclose(default(photos, training=False), ema_paintings, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Monitoring.


def test_sample_grid_shows_the_same_fixed_photos_every_epoch(monitored_run):
    grids, config = monitored_run["grids"], monitored_run["config"]
    assert [name for name, _ in grids] == ["epoch_001.png", "epoch_002.png"]
    photo_source = sources.domain_source(monitored_run["data_dir"], "photo")
    first_photos = list(pipeline.load_images(photo_source, config.image_size).take(config.sample_count))
    for _, rows in grids:
        assert len(rows) == config.sample_count
        for row, photo in zip(rows, first_photos):
            np.testing.assert_array_equal(row[0], photo)
    for name in ("epoch_001.png", "epoch_002.png"):
        assert os.path.isfile(os.path.join(monitored_run["run_dir"], "samples", name))


def test_log_has_losses_and_discriminator_accuracies_per_epoch(monitored_run):
    with open(os.path.join(monitored_run["run_dir"], run_folder.LOG_FILE)) as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    for row in rows:
        for column in ACCURACY_COLUMNS:
            assert 0.0 <= float(row[column]) <= 1.0, column
        for column in ("photo_to_monet_loss", "monet_discriminator_loss", "cycle_loss"):
            assert np.isfinite(float(row[column])), column
    assert os.path.isfile(os.path.join(monitored_run["run_dir"], "loss_curves.png"))


# ----------------------------------------------------------------------------------------------
# The recommended defaults.


def test_defaults_are_the_recipe_and_the_smoke_variant_keeps_it():
    recipe = config_lib.TrainConfig()
    # DiffAugment is off in the recipe (docs/learning_curve.md) and one value away.
    assert recipe.diffaugment_policy == ""
    assert diffaugment.parse_policy(config_lib.DIFFAUGMENT_POLICY) == ["color", "translation", "cutout"]
    assert 0.99 <= recipe.ema_decay < 1.0
    assert recipe.loss in ("lsgan", "hinge")
    assert recipe.identity_weight > 0 and recipe.decay_start_fraction < 1.0
    # Every epoch walks all photos, and the global batch splits evenly over a v3-8's 8 cores.
    assert recipe.steps_per_epoch is None and recipe.batch_size % 8 == 0
    smoke = config_lib.TrainConfig.smoke()
    # The smoke variant turns DiffAugment on, so that the tests run its code path.
    assert smoke.diffaugment_policy == config_lib.DIFFAUGMENT_POLICY and smoke.ema_decay > 0
