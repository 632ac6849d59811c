"""The CycleGAN as a Keras model: four networks, two composites, four optimizers, one train_step.

`model.fit` drives training, so Keras' progress bar, callbacks, `steps_per_execution` and
distribution strategies all work unchanged. One `train_step`:

  1. updates the photo->Monet generator through its composite (Monet discriminator and
     Monet->photo generator frozen),
  2. updates the Monet->photo generator through its composite (the other two frozen),
  3. updates the Monet discriminator on real Monets against fakes drawn from an image pool,
  4. updates the photo discriminator likewise.

Each update hands its optimizer an explicit variable list, so no network is ever changed by an
update that is not its own. Every optimizer has its own learning-rate schedule object: a
callback that sets `model.optimizer.learning_rate` would reach only one of the four.
"""

import keras
import tensorflow as tf

from monet_gan.networks import discriminators
from monet_gan.networks import generators
from monet_gan.training import composite
from monet_gan.training import image_pool

# The networks, in the order their variables are listed in logs and checkpoints.
NETWORK_NAMES = ("photo_to_monet", "monet_to_photo", "monet_discriminator", "photo_discriminator")

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


@keras.saving.register_keras_serializable(package="monet_gan")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The CycleGAN paper's schedule: a constant rate, then a straight line down to zero.

    Args:
        learning_rate: the rate of the constant phase.
        total_steps: the optimizer steps of the whole run; the rate is zero at this step.
        decay_start_step: the step at which the linear decay begins.

    Both step counts may be given as int64 tf.Variables shared by several schedules. They are held
    in variables either way, so that a time budget (time_budget.py) can change the run's length
    mid-fit without retracing the train step, and a checkpoint can restore it.
    """

    def __init__(self, learning_rate, total_steps, decay_start_step):
        check_schedule_steps(_int_value(total_steps), _int_value(decay_start_step))
        self.learning_rate = float(learning_rate)
        self.total_steps = _step_variable(total_steps, "total_steps")
        self.decay_start_step = _step_variable(decay_start_step, "decay_start_step")

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        total_steps = tf.cast(self.total_steps, tf.float32)
        decay_steps = tf.maximum(total_steps - tf.cast(self.decay_start_step, tf.float32), 1.0)
        remaining = (total_steps - step) / decay_steps
        return self.learning_rate * tf.clip_by_value(remaining, 0.0, 1.0)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": _int_value(self.total_steps),
            "decay_start_step": _int_value(self.decay_start_step),
        }


def check_schedule_steps(total_steps, decay_start_step):
    """Raises ValueError unless 0 <= decay_start_step <= total_steps and total_steps > 0."""
    if total_steps <= 0 or not 0 <= decay_start_step <= total_steps:
        raise ValueError(
            f"Invalid schedule: total_steps={total_steps}, decay_start_step={decay_start_step}; "
            "expected 0 <= decay_start_step <= total_steps and total_steps > 0."
        )


def _int_value(steps):
    return int(steps.numpy()) if isinstance(steps, tf.Variable) else int(steps)


def _step_variable(steps, name):
    if isinstance(steps, tf.Variable):
        return steps
    return tf.Variable(int(steps), dtype=tf.int64, trainable=False, name=name)


def make_optimizer(config, total_steps, use_ema=False, name=None, decay_start_step=None):
    """Adam with the config's rate and beta_1 on the paper's schedule.

    `total_steps` and `decay_start_step` may be shared tf.Variables (see CycleGAN.compile); by
    default the decay starts at the config's fraction of `total_steps`.
    """
    if decay_start_step is None:
        decay_start_step = config.decay_start_step(total_steps)
    schedule = ConstantThenLinearDecay(config.learning_rate, total_steps, decay_start_step)
    return keras.optimizers.Adam(
        learning_rate=schedule,
        beta_1=config.beta_1,
        use_ema=use_ema,
        ema_momentum=config.ema_decay if use_ema else 0.99,
        name=name,
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
        generator's weights when the config asks for one (`ema_decay` > 0).
        """
        # Time budget: one pair of step variables drives all four schedules, so the run's length
        # is rewritten in one place (set_schedule_length) and saved with the checkpoint.
        self.schedule_steps = {
            name: tf.Variable(0, dtype=tf.int64, trainable=False, name=name)
            for name in ("total_steps", "decay_start_step")
        }
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
        for name, optimizer in self.optimizers.items():
            # Building the slots now, in the strategy's scope, keeps variable creation out of
            # the traced train_step, where a distribution strategy does not allow it.
            optimizer.build(self.networks[name].trainable_variables)
        super().compile(optimizer=None, steps_per_execution=steps_per_execution, jit_compile=jit_compile)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Multi-worker training: Keras 3 builds a model under a strategy by averaging a first batch
        # across replicas, which fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
        # Every variable of this model is made by __init__ and compile, so there is nothing to build.
        return

    def set_schedule_length(self, total_steps):
        """Makes every learning rate reach zero at `total_steps`, decaying from the config's fraction.

        A time budget calls this mid-fit; the schedules read the variables at every step.
        """
        decay_start_step = self.config.decay_start_step(total_steps)
        check_schedule_steps(total_steps, decay_start_step)
        self.schedule_steps["total_steps"].assign(total_steps)
        self.schedule_steps["decay_start_step"].assign(decay_start_step)

    def call(self, photos, training=False):
        """Paints photos: the photo->Monet generator's output."""
        return self.photo_to_monet(photos, training=training)

    def update_generators(self, photos, monets):
        """Steps 1 and 2: both composite updates. Returns the losses and both fakes."""
        painting_losses, painting_outputs = self.painting.update_generator(
            self.optimizers["photo_to_monet"], photos, monets
        )
        photography_losses, photography_outputs = self.photography.update_generator(
            self.optimizers["monet_to_photo"], monets, photos
        )
        return painting_losses, photography_losses, painting_outputs["fake"], photography_outputs["fake"]

    def update_discriminators(self, photos, monets, fake_monets, fake_photos):
        """Steps 3 and 4: each discriminator against pooled fakes of its domain."""
        monet_results = composite.update_discriminator(
            self.monet_discriminator, self.optimizers["monet_discriminator"],
            monets, self.fake_monet_pool(fake_monets), self.config, self.discriminator_augmentation,
        )
        photo_results = composite.update_discriminator(
            self.photo_discriminator, self.optimizers["photo_discriminator"],
            photos, self.fake_photo_pool(fake_photos), self.config, self.discriminator_augmentation,
        )
        return monet_results, photo_results

    def train_step(self, data):
        photos, monets = data
        painting, photography, fake_monets, fake_photos = self.update_generators(photos, monets)
        monet_results, photo_results = self.update_discriminators(photos, monets, fake_monets, fake_photos)
        values = {
            "photo_to_monet_loss": painting["total"],
            "monet_to_photo_loss": photography["total"],
            "cycle_loss": painting["cycle"] + photography["cycle"],
            "identity_loss": painting["identity"] + photography["identity"],
            "monet_discriminator_loss": monet_results[0],
            "photo_discriminator_loss": photo_results[0],
            "monet_real_accuracy": monet_results[1],
            "monet_fake_accuracy": monet_results[2],
            "photo_real_accuracy": photo_results[1],
            "photo_fake_accuracy": photo_results[2],
        }
        # Mean trackers sum across replicas when read, so the logged value is the global mean.
        for name, value in values.items():
            self.trackers[name].update_state(value)
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if _is_multi_worker(self.distribute_strategy):
            # Multi-worker training: Keras 3 averages these logs across workers along a batch
            # axis (strategy.reduce with axis=0), so each scalar needs one (keras-team/keras#20585).
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results


def _is_multi_worker(strategy):
    """Whether Keras reduces the logs across workers: MultiWorkerMirroredStrategy on several of them."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())
