"""Per-example CycleGAN losses against numpy formulas, and their global-batch average.

Backend-agnostic: also run under KERAS_BACKEND=jax, except the MirroredStrategy average.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tensorflow_only
from conftest import two_cpu_strategy
from keras import ops

from monet_gan.training import losses

pytestmark = pytest.mark.backend_agnostic


def dtype_of(tensor):
    return keras.backend.standardize_dtype(tensor.dtype)

RNG = np.random.default_rng(0)
REAL_LOGITS = RNG.normal(size=(3, 4, 4, 1)).astype(np.float32)
FAKE_LOGITS = RNG.normal(size=(3, 4, 4, 1)).astype(np.float32)


def per_example_mean(values):
    return values.reshape(values.shape[0], -1).mean(axis=1)


def sigmoid_cross_entropy(logits, label):
    return np.maximum(logits, 0) - logits * label + np.log1p(np.exp(-np.abs(logits)))


def numpy_discriminator_loss(kind, real, fake, real_label, fake_label):
    if kind == "lsgan":
        return 0.5 * (per_example_mean((real - real_label) ** 2) + per_example_mean((fake - fake_label) ** 2))
    if kind == "bce":
        return 0.5 * (
            per_example_mean(sigmoid_cross_entropy(real, real_label))
            + per_example_mean(sigmoid_cross_entropy(fake, fake_label))
        )
    return per_example_mean(np.maximum(1 - real, 0)) + per_example_mean(np.maximum(1 + fake, 0))


def numpy_generator_loss(kind, fake, real_label):
    if kind == "lsgan":
        return per_example_mean((fake - real_label) ** 2)
    if kind == "bce":
        return per_example_mean(sigmoid_cross_entropy(fake, real_label))
    return per_example_mean(-fake)


@pytest.mark.parametrize("kind", losses.LOSS_KINDS)
@pytest.mark.parametrize("labels", [(1.0, 0.0), (0.9, 0.1)])
def test_adversarial_losses_match_the_formulas(kind, labels):
    real_label, fake_label = labels
    discriminator = losses.discriminator_loss(
        kind, REAL_LOGITS, FAKE_LOGITS, real_label=real_label, fake_label=fake_label
    )
    generator = losses.generator_adversarial_loss(kind, FAKE_LOGITS, real_label=real_label)
    assert discriminator.shape == (3,) and generator.shape == (3,)
    assert dtype_of(discriminator) == "float32" and dtype_of(generator) == "float32"
    np.testing.assert_allclose(
        discriminator, numpy_discriminator_loss(kind, REAL_LOGITS, FAKE_LOGITS, real_label, fake_label), rtol=1e-5
    )
    np.testing.assert_allclose(generator, numpy_generator_loss(kind, FAKE_LOGITS, real_label), rtol=1e-5)


@pytest.mark.parametrize("kind", losses.LOSS_KINDS)
def test_label_smoothing_changes_lsgan_and_bce_but_not_hinge(kind):
    plain = losses.discriminator_loss(kind, REAL_LOGITS, FAKE_LOGITS)
    smooth = losses.discriminator_loss(kind, REAL_LOGITS, FAKE_LOGITS, real_label=0.9, fake_label=0.1)
    plain_generator = losses.generator_adversarial_loss(kind, FAKE_LOGITS)
    smooth_generator = losses.generator_adversarial_loss(kind, FAKE_LOGITS, real_label=0.9)
    changed = kind != "hinge"
    assert (not np.allclose(plain, smooth)) == changed
    assert (not np.allclose(plain_generator, smooth_generator)) == changed


def test_bfloat16_logits_give_float32_losses():
    loss = losses.discriminator_loss("lsgan", ops.cast(REAL_LOGITS, "bfloat16"), ops.cast(FAKE_LOGITS, "bfloat16"))
    assert dtype_of(loss) == "float32" and loss.shape == (3,)


def test_cycle_and_identity_losses_are_per_example_l1():
    real = RNG.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
    other = RNG.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
    expected = per_example_mean(np.abs(real - other))
    np.testing.assert_allclose(losses.cycle_loss(real, other), expected, rtol=1e-5)
    np.testing.assert_allclose(losses.identity_loss(real, other), expected, rtol=1e-5)
    np.testing.assert_array_equal(losses.cycle_loss(real, real), [0.0, 0.0])


def test_unknown_kind_names_it_and_the_choices():
    with pytest.raises(ValueError, match="'wgan'.*lsgan, bce, hinge"):
        losses.discriminator_loss("wgan", REAL_LOGITS, FAKE_LOGITS)
    with pytest.raises(ValueError, match="'wgan'"):
        losses.generator_adversarial_loss("wgan", FAKE_LOGITS)


def test_bce_is_finite_and_exact_for_large_logits():
    # The overflow-free form: exp of a large positive logit never appears.
    logits = np.array([[-100.0, -20.0, 0.0, 20.0, 100.0]], dtype=np.float32).reshape(1, 5, 1, 1)
    loss = ops.convert_to_numpy(losses.generator_adversarial_loss("bce", logits))
    np.testing.assert_allclose(loss, per_example_mean(sigmoid_cross_entropy(logits.astype(np.float64), 1.0)), rtol=1e-5)


@tensorflow_only
def test_global_batch_average_over_two_replicas_is_the_mean_over_four():
    strategy = two_cpu_strategy()
    real = RNG.normal(size=(4, 2, 2, 1)).astype(np.float32)
    fake = RNG.normal(size=(4, 2, 2, 1)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((real, fake)).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(real_logits, fake_logits):
        def replica_step(local_real, local_fake):
            per_example = losses.discriminator_loss("lsgan", local_real, local_fake)
            return tf.nn.compute_average_loss(per_example, global_batch_size=4), tf.shape(per_example)[0]

        averages, local_sizes = strategy.run(replica_step, args=(real_logits, fake_logits))
        return strategy.reduce("SUM", averages, axis=None), strategy.experimental_local_results(local_sizes)

    total, local_sizes = step(*batch)
    assert [int(size) for size in local_sizes] == [2, 2]
    expected = numpy_discriminator_loss("lsgan", real, fake, 1.0, 0.0).mean()
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
