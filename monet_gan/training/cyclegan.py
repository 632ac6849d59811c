"""The CycleGAN as a Keras model: four networks, two composites, four optimizers, one train_step.

`model.fit` drives training under either Keras backend, with Keras' callbacks,
`steps_per_execution` and distribution (tf.distribute under TensorFlow, keras.distribution under
JAX). One step, as in the references: a shared forward of both generators (six passes) gives both
directions' losses and the joint generator loss; the discriminators are judged on real images
against pooled fakes; every gradient is taken at the step's starting weights, then each of the
four optimizers applies its own network's gradient to that network alone (explicit variable
lists, so the frozen networks of each composite stay frozen). At equal weights a composite's
gradient with respect to its forward generator equals the joint loss's (tests/composite_test.py).
Every optimizer has its own schedule object, all reading the model's two step variables. Only
the gradient computation differs between backends (gradients.py); under JAX the step runs on the
state Keras' trainer passes in (jax_training.py).
"""

import keras
import tensorflow as tf
from keras import ops

from monet_gan.networks import discriminators
from monet_gan.networks import generators
from monet_gan.training import composite
from monet_gan.training import gradients as gradients_lib
from monet_gan.training import image_pool
from monet_gan.training import jax_training
from monet_gan.training import schedule as schedule_lib

# The schedule and its optimizers moved to schedule.py; these names stay importable from here.
ConstantThenLinearDecay = schedule_lib.ConstantThenLinearDecay
check_schedule_steps = schedule_lib.check_schedule_steps
make_optimizer = schedule_lib.make_optimizer

# The networks, in the order their variables are listed in logs and checkpoints.
NETWORK_NAMES = ("photo_to_monet", "monet_to_photo", "monet_discriminator", "photo_discriminator")
GENERATOR_NAMES = NETWORK_NAMES[:2]
DISCRIMINATOR_NAMES = NETWORK_NAMES[2:]

METRIC_NAMES = (
    "photo_to_monet_loss",
    "monet_to_photo_loss",
    "cycle_loss",
    "identity_loss",
    "monet_discriminator_loss",
    "photo_discriminator_loss",
    "monet_real_accuracy",
    "monet_fake_accuracy",
    "photo_real_accuracy",
    "photo_fake_accuracy",
)


class CycleGAN(keras.Model):
    """Photo <-> Monet CycleGAN built from a TrainConfig. Create it inside the strategy's scope."""

    def __init__(self, config, **kwargs):
        super().__init__(name="cyclegan", **kwargs)
        self.config = config
        self.photo_to_monet = generators.build_from_config(config, name="photo_to_monet")
        self.monet_to_photo = generators.build_from_config(config, name="monet_to_photo")
        self.monet_discriminator = discriminators.build_discriminator(
            config.image_size, config.discriminator_filters, name="monet_discriminator",
            norm_gamma_init=config.norm_gamma_init,
        )
        self.photo_discriminator = discriminators.build_discriminator(
            config.image_size, config.discriminator_filters, name="photo_discriminator",
            norm_gamma_init=config.norm_gamma_init,
        )
        policy = config.diffaugment_policy
        self.painting = composite.Direction(
            composite.build_composite(
                self.photo_to_monet, self.monet_discriminator, self.monet_to_photo,
                augment_policy=policy, name="photo_to_monet_composite",
            ),
            self.photo_to_monet,
            config,
        )
        self.photography = composite.Direction(
            composite.build_composite(
                self.monet_to_photo, self.photo_discriminator, self.photo_to_monet,
                augment_policy=policy, name="monet_to_photo_composite",
            ),
            self.monet_to_photo,
            config,
        )
        # The discriminators see real images through the same augmentation as the fakes.
        self.discriminator_augmentation = composite.DiffAugmentation(policy, name="discriminator_augment")
        # Distinct seeds keep the two pools from making the same keep-or-swap choices.
        pool_seeds = (None, None) if config.seed is None else (config.seed, config.seed + 1)
        self.fake_monet_pool = image_pool.ImagePool(config.pool_size, seed=pool_seeds[0], name="fake_monet_pool")
        self.fake_photo_pool = image_pool.ImagePool(config.pool_size, seed=pool_seeds[1], name="fake_photo_pool")
        image_shape = (None, config.image_size, config.image_size, 3)
        self.fake_monet_pool.build(image_shape)
        self.fake_photo_pool.build(image_shape)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES}
        # Time budget: one pair of step variables drives all four schedules, so the run's length
        # is rewritten in one place (set_schedule_length) and saved with the checkpoint. They are
        # the model's own non-trainable variables, so that under JAX they are part of the state
        # the train step receives.
        self.schedule_steps = {
            name: schedule_lib.make_step_variable(1, name) for name in schedule_lib.STEP_VARIABLE_NAMES
        }
        # Every variable exists now; telling Keras so stops it from building the model again.
        self.built = True

    @property
    def networks(self):
        return {name: getattr(self, name) for name in NETWORK_NAMES}

    @property
    def metrics(self):
        # Listing the trackers here makes Keras reset them at the start of every epoch.
        return list(self.trackers.values())

    def compile(self, total_steps, steps_per_execution=1, jit_compile=False):
        """Creates the four optimizers, each on its own schedule over `total_steps` updates.

        The photo->Monet optimizer also keeps an exponential moving average of that
        generator's weights when the config asks for one (`ema_decay` > 0). Under JAX the step
        is always compiled: JAX runs an uncompiled step op by op, far slower.
        """
        self.set_schedule_length(total_steps)
        self.optimizers = {
            name: make_optimizer(
                self.config, self.schedule_steps["total_steps"],
                use_ema=(name == "photo_to_monet" and self.config.ema_decay > 0),
                name=f"{name}_optimizer",
                decay_start_step=self.schedule_steps["decay_start_step"],
            )
            for name in NETWORK_NAMES
        }
        if self.dtype_policy.name == "mixed_float16":
            # float16 gradients underflow without loss scaling; GPUs without bfloat16 (T4) need it.
            self.optimizers = {
                name: keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_loss_scale_optimizer")
                for name, optimizer in self.optimizers.items()
            }
        for name, optimizer in self.optimizers.items():
            # Building the slots now, in the strategy's scope, keeps variable creation out of
            # the traced train_step, where a distribution strategy does not allow it.
            optimizer.build(self.networks[name].trainable_variables)
        on_jax = keras.backend.backend() == "jax"
        super().compile(optimizer=None, steps_per_execution=steps_per_execution, jit_compile=on_jax or jit_compile)
        if on_jax:
            # Keras' JAX trainer carries `model.optimizer.variables` in the step's state.
            self.optimizer = jax_training.OptimizerGroup(list(self.optimizers.values()))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Multi-worker training: Keras 3 builds a model under a strategy by averaging a first batch
        # across replicas, which fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
        # Every variable of this model is made by __init__ and compile, so there is nothing to build.
        return

    def _symbolic_build(self, iterator=None, data_batch=None):
        # Keras' JAX trainer builds here instead; there is nothing to build either.
        return

    def set_schedule_length(self, total_steps):
        """Makes every learning rate reach zero at `total_steps`, decaying from the config's fraction.

        A time budget calls this mid-fit; the schedules read the variables at every step.
        """
        decay_start_step = self.config.decay_start_step(total_steps)
        check_schedule_steps(total_steps, decay_start_step)
        # Under JAX, fit holds the live state outside the variables: bring it back first, which
        # also makes fit read the variables again before its next step.
        jax_training.sync_state(self)
        self.schedule_steps["total_steps"].assign(total_steps)
        self.schedule_steps["decay_start_step"].assign(decay_start_step)

    def call(self, photos, training=False):
        """Paints photos: the photo->Monet generator's output."""
        return self.photo_to_monet(photos, training=training)

    def generator_phase(self, photos, monets):
        """Step 1: the shared forward of both generators and both directions' losses.

        Returns a dict: "loss" (the joint generator loss, averaged over the global batch), the
        per-example terms of each direction ("painting", "photography") and the two fakes.
        """
        config = self.config
        fake_monets = self.photo_to_monet(photos, training=True)
        fake_photos = self.monet_to_photo(monets, training=True)
        cycled_photos = self.monet_to_photo(fake_monets, training=True)
        cycled_monets = self.photo_to_monet(fake_photos, training=True)
        same_monets = self.photo_to_monet(monets, training=True)
        same_photos = self.monet_to_photo(photos, training=True)
        augment = self.discriminator_augmentation
        monet_verdicts = self.monet_discriminator(augment(fake_monets), training=True)
        photo_verdicts = self.photo_discriminator(augment(fake_photos), training=True)
        painting = composite.direction_terms(
            config, photos, monets, monet_verdicts, same_monets, cycled_photos, cycled_monets
        )
        photography = composite.direction_terms(
            config, monets, photos, photo_verdicts, same_photos, cycled_monets, cycled_photos
        )
        joint = composite.joint_generator_loss(config, painting, photography)
        return {
            "loss": composite.average_loss(joint),
            "painting": painting,
            "photography": photography,
            "fake_monets": fake_monets,
            "fake_photos": fake_photos,
        }

    def discriminator_phase(self, photos, monets, fake_monets, fake_photos):
        """Step 2: both discriminators' losses, real images against (pooled) fakes, augmented alike."""
        augment = self.discriminator_augmentation
        monet = composite.discriminator_terms(
            self.config,
            self.monet_discriminator(augment(monets), training=True),
            self.monet_discriminator(augment(fake_monets), training=True),
        )
        photo = composite.discriminator_terms(
            self.config,
            self.photo_discriminator(augment(photos), training=True),
            self.photo_discriminator(augment(fake_photos), training=True),
        )
        loss = composite.average_loss(monet["loss"]) + composite.average_loss(photo["loss"])
        return {"loss": loss, "monet": monet, "photo": photo}

    def network_variables(self, names):
        return [variable for name in names for variable in self.networks[name].trainable_variables]

    def compute_gradients(self, photos, monets):
        """Steps 1 and 2: every gradient at the current weights; nothing is applied.

        Returns (generator results, discriminator results, {network name: its gradients}). The
        pools are updated with this step's fakes.
        """
        # float16 (loss scaling): one backward pass serves two optimizers, so the loss is scaled
        # by the first one's scale and the second's gradients rescaled to its own (powers of two:
        # exact); each LossScaleOptimizer then unscales, checks and adapts its own scale.
        generator_scale = gradients_lib.loss_scale_of(self.optimizers[GENERATOR_NAMES[0]])
        generator_results, generator_gradients = gradients_lib.value_and_gradients(
            lambda: self.generator_phase(photos, monets), self.network_variables(GENERATOR_NAMES), self.variables,
            loss_scale=generator_scale,
        )
        fake_monets = self.fake_monet_pool(ops.stop_gradient(generator_results["fake_monets"]))
        fake_photos = self.fake_photo_pool(ops.stop_gradient(generator_results["fake_photos"]))
        discriminator_scale = gradients_lib.loss_scale_of(self.optimizers[DISCRIMINATOR_NAMES[0]])
        discriminator_results, discriminator_gradients = gradients_lib.value_and_gradients(
            lambda: self.discriminator_phase(photos, monets, fake_monets, fake_photos),
            self.network_variables(DISCRIMINATOR_NAMES), self.variables, loss_scale=discriminator_scale,
        )
        gradients = {}
        remaining = list(generator_gradients) + list(discriminator_gradients)
        for name in NETWORK_NAMES:
            count = len(self.networks[name].trainable_variables)
            gradients[name], remaining = remaining[:count], remaining[count:]
        for names, scale in ((GENERATOR_NAMES, generator_scale), (DISCRIMINATOR_NAMES, discriminator_scale)):
            if scale is not None:
                ratio = gradients_lib.loss_scale_of(self.optimizers[names[1]]) / scale
                gradients[names[1]] = [gradient * ops.cast(ratio, gradient.dtype) for gradient in gradients[names[1]]]
        return generator_results, discriminator_results, gradients

    def apply_gradients(self, gradients):
        """Step 3: each optimizer applies its own network's gradient to that network alone."""
        for name in NETWORK_NAMES:
            gradients_lib.apply_gradients(
                self.optimizers[name], gradients[name], self.networks[name].trainable_variables
            )

    def train_step(self, *args):
        # Keras' TensorFlow trainer calls train_step(data), its JAX trainer train_step(state, data).
        if keras.backend.backend() == "jax":
            return jax_training.stateless_train_step(self, *args)
        return self.update(*args)

    def update(self, data):
        """One training step on the model's variables: returns the logs."""
        photos, monets = data
        generator_results, discriminator_results, gradients = self.compute_gradients(photos, monets)
        self.apply_gradients(gradients)
        return self.log_step(generator_results, discriminator_results)

    def log_step(self, generator_results, discriminator_results):
        painting, photography = generator_results["painting"], generator_results["photography"]
        monet, photo = discriminator_results["monet"], discriminator_results["photo"]
        values = {
            "photo_to_monet_loss": painting["total"],
            "monet_to_photo_loss": photography["total"],
            # Both directions' totals hold the same two cycle terms: logged once.
            "cycle_loss": painting["cycle"],
            "identity_loss": painting["identity"] + photography["identity"],
            "monet_discriminator_loss": monet["loss"],
            "photo_discriminator_loss": photo["loss"],
            "monet_real_accuracy": monet["real_accuracy"],
            "monet_fake_accuracy": monet["fake_accuracy"],
            "photo_real_accuracy": photo["real_accuracy"],
            "photo_fake_accuracy": photo["fake_accuracy"],
        }
        # Mean trackers sum across replicas when read, so the logged value is the global mean.
        for name, value in values.items():
            self.trackers[name].update_state(value)
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if _is_multi_worker(self):
            # Multi-worker training: Keras 3 averages these logs across workers along a batch
            # axis (strategy.reduce with axis=0), so each scalar needs one (keras-team/keras#20585).
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results


def _is_multi_worker(model):
    """Whether Keras reduces the logs across workers: MultiWorkerMirroredStrategy on several of them."""
    if keras.backend.backend() != "tensorflow":
        return False
    strategy = model.distribute_strategy
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())
