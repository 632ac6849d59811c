"""Per-direction composite models: one generator trained through a frozen critic and a frozen partner.

A CycleGAN has two directions. For each one, a composite model joins

    forward generator  ->  target-domain discriminator   (adversarial verdict on the fake)
    forward generator  on  a real target image            (identity mapping)
    forward, then backward generator                       (forward cycle: source -> source)
    backward, then forward generator                       (backward cycle: target -> target)

so one call computes every term of that generator's loss. Inside a composite only the forward
generator learns. Keras 3 no longer freezes sub-models by snapshotting `trainable` at compile
time as tf.keras 2 did, so the freezing here is explicit: `update_generator` differentiates with
respect to the forward generator's variables only and hands exactly those to the optimizer. The
discriminator and the backward generator are read, never written.

The loss terms are written once, here (`direction_terms`, `joint_generator_loss`,
`discriminator_terms`), as functions of the networks' outputs. The composites and the CycleGAN's
train step both use them: at the same weights, the gradient of a composite's loss with respect to
its forward generator equals the gradient of the joint generator loss with respect to it, so the
train step computes one shared forward of both generators (six passes, as the references do)
instead of one per composite (ten).
"""

import keras
import tensorflow as tf
from keras import ops

from monet_gan.training import diffaugment
from monet_gan.training import gradients as gradients_lib
from monet_gan.training import losses
from monet_gan.training import seed_state


@keras.saving.register_keras_serializable(package="monet_gan")
class DiffAugmentation(seed_state.SeededLayer):
    """Applies DiffAugment in front of a discriminator; the identity when the policy is empty.

    The random draws come from the layer's own `keras.random.SeedGenerator`, whose state is a
    non-trainable variable: it is checkpointed with the model (seed_state.py), so a resumed run continues the
    same stream, and a jitted JAX step threads it through `stateless_call` like any other state.

    Args:
        policy: DiffAugment policy, e.g. "color,translation,cutout"; "" for none.
        seed: integer seed of the layer's draws; None picks one at random (from Python's
            `random`, which `keras.utils.set_random_seed` seeds).
        **kwargs: base layer arguments such as `name`.
    """

    def __init__(self, policy="", seed=None, **kwargs):
        super().__init__(**kwargs)
        names = diffaugment.parse_policy(policy)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer or None, got seed={seed!r}")
        self.policy = policy
        self.seed = seed
        # Only a layer that augments holds a seed state, so an empty policy adds no weight.
        self.seed_generator = None
        if names:
            self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")

    def call(self, images):
        if self.seed_generator is None:
            return images
        return diffaugment.diff_augment(images, policy=self.policy, seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "policy": self.policy, "seed": self.seed}


def build_composite(forward_generator, discriminator, backward_generator, augment_policy="", name=None):
    """Joins the three networks of one direction into a functional model.

    Args:
        forward_generator: the generator this composite trains (source -> target domain).
        discriminator: the target domain's discriminator; frozen here.
        backward_generator: the other direction's generator (target -> source); frozen here.
        augment_policy: DiffAugment policy applied to the fake before the discriminator, so the
            generator is judged on the same augmented view the discriminator learns from.
        name: the model's name, e.g. "photo_to_monet_composite".

    Returns:
        A keras.Model taking `[real_source, real_target]` and returning a dict with the fake,
        the discriminator's verdict on it, the identity mapping, and both cycles.
    """
    image_shape = forward_generator.input_shape[1:]
    if tuple(backward_generator.input_shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"The generators' input shapes differ: {forward_generator.input_shape} and "
            f"{backward_generator.input_shape}."
        )
    real_source = keras.Input(shape=image_shape, name="real_source")
    real_target = keras.Input(shape=image_shape, name="real_target")
    augmentation = DiffAugmentation(augment_policy, name="diff_augment")

    fake = forward_generator(real_source)
    verdict = discriminator(augmentation(fake))
    identity = forward_generator(real_target)
    forward_cycle = backward_generator(fake)
    backward_cycle = forward_generator(backward_generator(real_target))

    outputs = {
        "fake": fake,
        "verdict": verdict,
        "identity": identity,
        "forward_cycle": forward_cycle,
        "backward_cycle": backward_cycle,
    }
    return keras.Model([real_source, real_target], outputs, name=name)


def average_loss(per_example):
    """The mean of per-example losses over the GLOBAL batch.

    Under a tf.distribute strategy each replica holds its share of the batch, and dividing by the
    global batch size makes the replicas' summed gradients a mean. Under JAX with
    keras.distribution the arrays are global, so a plain mean is the global mean.
    """
    if keras.backend.backend() == "tensorflow":
        return tf.nn.compute_average_loss(per_example)
    return ops.mean(per_example)


def direction_terms(config, real_source, real_target, verdict, identity, forward_cycle, backward_cycle):
    """Per-example loss terms of one direction's generator, from the networks' outputs.

    Args:
        config: the TrainConfig (loss kind, weights, labels).
        real_source, real_target: the real images of the source and target domains.
        verdict: the target discriminator's output on the (augmented) fake.
        identity: the forward generator's output on `real_target`.
        forward_cycle: source -> target -> source. backward_cycle: target -> source -> target.

    Returns:
        A dict of (batch,) float32 tensors: adversarial, cycle (both cycles), identity, and total.
    """
    adversarial = losses.generator_adversarial_loss(config.loss, verdict, real_label=config.real_label)
    cycle = losses.cycle_loss(real_source, forward_cycle) + losses.cycle_loss(real_target, backward_cycle)
    identity_term = losses.identity_loss(real_target, identity)
    total = adversarial + config.cycle_weight * cycle + config.identity_loss_weight * identity_term
    return {"total": total, "adversarial": adversarial, "cycle": cycle, "identity": identity_term}


def joint_generator_loss(config, painting, photography):
    """The references' joint generator loss, per example, from both directions' terms.

    Both directions' totals hold the same two cycle terms, so the joint loss counts them once:
    painting total + photography's adversarial and identity terms.
    """
    return painting["total"] + photography["adversarial"] + config.identity_loss_weight * photography["identity"]


def discriminator_terms(config, real_logits, fake_logits):
    """A discriminator's per-example loss and the fraction of patches judged right on each side."""
    per_example = losses.discriminator_loss(
        config.loss, real_logits, fake_logits, real_label=config.real_label, fake_label=config.fake_label,
    )
    # LSGAN's outputs are scores around the labels, the other losses' are logits around zero.
    threshold = 0.5 * (config.real_label + config.fake_label) if config.loss == "lsgan" else 0.0
    real_accuracy = ops.mean(ops.cast(ops.cast(real_logits, "float32") > threshold, "float32"), axis=[1, 2, 3])
    fake_accuracy = ops.mean(ops.cast(ops.cast(fake_logits, "float32") <= threshold, "float32"), axis=[1, 2, 3])
    return {"loss": per_example, "real_accuracy": real_accuracy, "fake_accuracy": fake_accuracy}


class Direction:
    """One direction of the CycleGAN: its composite, the networks it trains, and their losses.

    Args:
        composite: the model from `build_composite`.
        forward_generator: the network whose variables the composite update changes.
        config: the TrainConfig (loss kind, weights, labels).
    """

    def __init__(self, composite, forward_generator, config):
        self.composite = composite
        self.forward_generator = forward_generator
        self.config = config

    def generator_losses(self, real_source, real_target, training=True):
        """Per-example losses of this direction's generator, and the composite's outputs."""
        outputs = self.composite([real_source, real_target], training=training)
        per_example = direction_terms(
            self.config, real_source, real_target, outputs["verdict"], outputs["identity"],
            outputs["forward_cycle"], outputs["backward_cycle"],
        )
        return per_example, outputs

    def loss_and_gradients(self, real_source, real_target):
        """The composite's mean loss and its gradient with respect to the forward generator only."""

        def compute():
            per_example, outputs = self.generator_losses(real_source, real_target)
            return {"loss": average_loss(per_example["total"]), "per_example": per_example, "outputs": outputs}

        return gradients_lib.value_and_gradients(
            compute, self.forward_generator.trainable_variables, self.composite.variables
        )

    def update_generator(self, optimizer, real_source, real_target):
        """One optimizer step on the forward generator's variables, and nothing else.

        The gradient is taken with respect to the forward generator alone and only those
        variables reach the optimizer: this is what keeps the discriminator and the backward
        generator frozen inside the composite.
        """
        result, gradients = self.loss_and_gradients(real_source, real_target)
        optimizer.apply(gradients, self.forward_generator.trainable_variables)
        return result["per_example"], result["outputs"]


def update_discriminator(discriminator, optimizer, real, fake, config, augmentation=None):
    """One optimizer step on a discriminator's variables: real images against (pooled) fakes.

    Returns the per-example loss and the fraction of patches judged correctly on each side.
    """
    fake = ops.stop_gradient(fake)
    if augmentation is not None:
        real, fake = augmentation(real), augmentation(fake)

    def compute():
        terms = discriminator_terms(
            config, discriminator(real, training=True), discriminator(fake, training=True)
        )
        return {**terms, "per_example": terms["loss"], "loss": average_loss(terms["loss"])}

    result, gradients = gradients_lib.value_and_gradients(
        compute, discriminator.trainable_variables, discriminator.variables
    )
    optimizer.apply(gradients, discriminator.trainable_variables)
    return result["per_example"], result["real_accuracy"], result["fake_accuracy"]
