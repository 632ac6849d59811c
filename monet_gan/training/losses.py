"""Per-example CycleGAN losses: adversarial (LSGAN, BCE, hinge), cycle and identity.

Every function returns one value per example, shape (batch,), never a batch mean. Under a
TensorFlow distribution strategy each replica sees only its share of the global batch, so the
caller averages with `tf.nn.compute_average_loss(per_example)`, which divides by the GLOBAL batch
size; the replicas' summed gradients are then the gradient of the global mean. A replica-local
mean would make the result depend on the number of replicas. (On the JAX backend the batch is
one sharded array and the caller simply takes the mean.)

The functions use `keras.ops` only, so they run unchanged on the TensorFlow and JAX backends.

Discriminator outputs are PatchGAN maps of shape (batch, h, w, 1): each patch is judged on its
own and the per-example loss is the mean over patches. All arithmetic is in float32, whatever
the inputs' dtype, so that mixed_bfloat16 networks do not lose precision in the losses.

Adversarial kinds:
  - "lsgan": least squares to the labels (Mao et al., 2017), the CycleGAN paper's choice.
  - "bce": sigmoid cross-entropy from logits, the original GAN loss (Goodfellow et al., 2014).
  - "hinge": relu(1 - real) + relu(1 + fake) for the discriminator and -fake for the generator
    (Lim & Ye, 2017; Miyato et al., 2018). It has no targets, so the labels are ignored.

Soft labels are the `real_label` / `fake_label` arguments, e.g. 0.9 / 0.1.
"""

from keras import ops

LOSS_KINDS = ("lsgan", "bce", "hinge")


def _check_kind(kind):
    if kind not in LOSS_KINDS:
        raise ValueError(f"Unknown loss kind {kind!r}; choose one of {', '.join(LOSS_KINDS)}.")


def _per_example_mean(values):
    """The mean over every axis but the first (the batch), in float32."""
    values = ops.cast(values, "float32")
    return ops.mean(values, axis=tuple(range(1, len(values.shape))))


def _sigmoid_cross_entropy(logits, label):
    """Elementwise sigmoid cross-entropy from logits, in the overflow-free form TensorFlow uses.

    max(x, 0) - x * z + log(1 + exp(-|x|)) equals -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x))
    without ever exponentiating a large positive number.
    """
    return ops.relu(logits) - logits * label + ops.log1p(ops.exp(-ops.abs(logits)))


def _side_loss(kind, logits, label):
    """Per-example loss of one side (real or fake) pulled towards `label`, for lsgan and bce."""
    if kind == "lsgan":
        return _per_example_mean(ops.square(logits - label))
    return _per_example_mean(_sigmoid_cross_entropy(logits, label))


def discriminator_loss(kind, real_logits, fake_logits, real_label=1.0, fake_label=0.0):
    """The discriminator's per-example loss: real images towards `real_label`, fakes towards `fake_label`.

    For "lsgan" and "bce" the result is 0.5 * (real part + fake part): the CycleGAN paper halves
    the discriminator's objective so that it learns more slowly than the generators. For "hinge"
    it is the plain sum relu(1 - real) + relu(1 + fake), the standard hinge form whose margin of
    one already bounds each side, and the labels are ignored.

    Args:
        kind: one of LOSS_KINDS.
        real_logits: the discriminator's outputs on real images, (batch, h, w, 1).
        fake_logits: its outputs on generated images, same shape.
        real_label: target for real patches (lsgan, bce), e.g. 0.9 for one-sided smoothing.
        fake_label: target for fake patches (lsgan, bce).

    Returns:
        A float32 tensor of shape (batch,).
    """
    _check_kind(kind)
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(fake_logits, "float32")
    if kind == "hinge":
        return _per_example_mean(ops.relu(1.0 - real_logits)) + _per_example_mean(
            ops.relu(1.0 + fake_logits)
        )
    real_part = _side_loss(kind, real_logits, real_label)
    fake_part = _side_loss(kind, fake_logits, fake_label)
    return 0.5 * (real_part + fake_part)


def generator_adversarial_loss(kind, fake_logits, real_label=1.0):
    """The generator's per-example adversarial loss: its fakes should be judged real.

    "lsgan" is mean (fake - real_label)^2, "bce" the cross-entropy towards `real_label` (the
    non-saturating form), "hinge" mean(-fake).

    Args:
        kind: one of LOSS_KINDS.
        fake_logits: the discriminator's outputs on generated images, (batch, h, w, 1).
        real_label: the target the generator aims for (lsgan, bce).

    Returns:
        A float32 tensor of shape (batch,).
    """
    _check_kind(kind)
    fake_logits = ops.cast(fake_logits, "float32")
    if kind == "hinge":
        return _per_example_mean(-fake_logits)
    return _side_loss(kind, fake_logits, real_label)


def cycle_loss(real, reconstructed):
    """Per-example mean absolute error between images and their round trip through both generators."""
    return _per_example_mean(ops.abs(ops.cast(real, "float32") - ops.cast(reconstructed, "float32")))


def identity_loss(real, same):
    """Per-example mean absolute error between target-domain images and the generator's output on them.

    A generator fed an image already in its output domain should return it unchanged; the paper
    adds this term to keep the colours of a painting faithful to the photo.
    """
    return _per_example_mean(ops.abs(ops.cast(real, "float32") - ops.cast(same, "float32")))
