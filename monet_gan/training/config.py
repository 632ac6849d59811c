"""The one training configuration: defaults are the recommended recipe.

Run it:
    python -m monet_gan train --data-dir /kaggle/input/competitions/gan-getting-started --run-dir runs/main

`TrainConfig()` is the recipe for a Kaggle TPU (the notebook's run; `device_overrides` adapts
its batch to GPUs, see docs/kaggle.md); `TrainConfig.smoke()`
shrinks everything for a CPU smoke run in seconds (tests, the demo). The config is saved as
`config.json` in the run directory, so a run can always be resumed or exported with the exact
settings that produced it.
"""

import dataclasses
import json

import tensorflow as tf

from monet_gan import files
from monet_gan.networks.generators import ARCHITECTURES as GENERATOR_ARCHITECTURES
from monet_gan.networks.initializers import NORM_GAMMA_INITS
from monet_gan.networks.upsampling import UPSAMPLINGS
from monet_gan.training import memory
from monet_gan.training.diffaugment import AUGMENTATIONS
from monet_gan.training.diffaugment import parse_policy
from monet_gan.training.losses import LOSS_KINDS

MIXED_PRECISION_CHOICES = ("auto", "on", "off")
# DiffAugment's full policy (Zhao et al., 2020): the value that turns it on.
DIFFAUGMENT_POLICY = "color,translation,cutout"
# The competition's photo_jpg: what one epoch of the recipe walks.
RECIPE_PHOTO_COUNT = 7038

# The fields that decide the shapes of the saved variables. A run directory made with one value
# of these cannot be resumed with another.
ARCHITECTURE_FIELDS = (
    "image_size",
    "generator",
    "generator_filters",
    "num_residual_blocks",
    "upsampling",
    "discriminator_filters",
    "pool_size",
)


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs to know; the defaults are the recipe.

    One line of reason per default; docs/recipe.md gives the sources and the ablation's evidence.

      - generator "resnet", 9 blocks: the CycleGAN paper's 256 px generator; it keeps the photo's layout.
      - norm_gamma_init "ones": norms start as true normalizers; the tutorial's N(0, 0.02) paints flat grey.
      - upsampling "transposed": the paper's; resize-convolution ("nearest") is the checkerboard-free option.
      - loss "lsgan": the paper's least squares loss; "hinge" scored no better in the ablation.
      - cycle_weight 10, identity_weight 0.5 (x cycle): the paper's; the identity term keeps the tint.
      - real_label 1.0, fake_label 0.0: smoothing (0.9) was indistinguishable in the ablation.
      - learning_rate 2e-4, beta_1 0.5, decay from half-way to zero: the paper's schedule.
      - pool_size 50: the paper's history of past fakes steadies the discriminators.
      - batch_size 32 (global): 4 per TPU v3-8 core, as the tuned public CycleGANs use.
      - steps_per_epoch None: every epoch walks all 7,038 photos (219 steps at batch 32).
      - epochs 30: 6,570 steps, sized by arithmetic for Kaggle's 5 hours; a time budget ends it early.
      - diffaugment_policy "" (off): without it the paired 128 px run painted better and crossed the
        photos' KID; "color,translation,cutout" (DIFFAUGMENT_POLICY) is the option for a discriminator
        that memorizes the 300 Monets (its real accuracy in log.csv nearing 1).
      - ema_decay 0.999: the exported moving average smooths GAN oscillation over ~the last 15% of the run.
      - mixed_precision "auto": bfloat16 on TPUs and bfloat16 CPUs (2-3x faster), float16 on GPUs
        without bfloat16 (T4, P100), float32 elsewhere.
      - quality_photo_count 256, every epoch: a FID/KID curve that keeps the best epoch's generator.
    """

    # Networks.
    image_size: int = 256
    generator: str = "resnet"
    generator_filters: int = 64
    num_residual_blocks: int = 9
    dropout_rate: float = 0.5
    discriminator_filters: int = 64
    norm_gamma_init: str = "ones"
    upsampling: str = "transposed"

    # Losses.
    loss: str = "lsgan"
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    real_label: float = 1.0
    fake_label: float = 0.0

    # Optimization.
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    decay_start_fraction: float = 0.5
    epochs: int = 30
    steps_per_epoch: int | None = None
    batch_size: int = 32
    pool_size: int = 50

    # Data-efficient training and the exported generator.
    diffaugment_policy: str = ""
    ema_decay: float = 0.999

    # Data.
    augment: bool = True
    seed: int | None = None

    # Execution.
    steps_per_execution: int = 1
    mixed_precision: str = "auto"
    jit_compile: bool = False

    # Monitoring: how many fixed photos the per-epoch sample grid shows.
    sample_count: int = 4
    # The quality curve and the best epoch's export (monet_gan/metrics/quality.py).
    quality_photo_count: int = 256
    quality_every_epochs: int = 1
    feature_weights: str | None = None

    def __post_init__(self):
        self.validate()

    @classmethod
    def smoke(cls, **overrides):
        """A tiny CPU configuration: 32 px, few filters, a handful of steps."""
        values = dict(
            image_size=32,
            generator_filters=8,
            num_residual_blocks=2,
            discriminator_filters=8,
            epochs=2,
            steps_per_epoch=3,
            batch_size=2,
            pool_size=4,
            # DiffAugment on, so that the tests run its code path too.
            diffaugment_policy=DIFFAUGMENT_POLICY,
            sample_count=2,
            quality_photo_count=16,
        )
        values.update(overrides)
        return cls(**values)

    def validate(self):
        """Raises ValueError naming the first invalid value."""

        def require(condition, field, rule):
            if not condition:
                raise ValueError(f"Invalid config value {field}={getattr(self, field)!r}: {rule}.")

        positive_ints = (
            "image_size",
            "generator_filters",
            "num_residual_blocks",
            "discriminator_filters",
            "epochs",
            "batch_size",
            "steps_per_execution",
            "sample_count",
            "quality_every_epochs",
        )
        for field in positive_ints:
            value = getattr(self, field)
            require(isinstance(value, int) and value > 0, field, "expected a positive integer")
        require(self.generator in GENERATOR_ARCHITECTURES, "generator",
                f"expected one of {GENERATOR_ARCHITECTURES}")
        require(self.norm_gamma_init in NORM_GAMMA_INITS, "norm_gamma_init",
                f"expected one of {NORM_GAMMA_INITS}")
        require(self.upsampling in UPSAMPLINGS, "upsampling", f"expected one of {UPSAMPLINGS}")
        require(self.loss in LOSS_KINDS, "loss", f"expected one of {LOSS_KINDS}")
        require(self.mixed_precision in MIXED_PRECISION_CHOICES, "mixed_precision",
                f"expected one of {MIXED_PRECISION_CHOICES}")
        require(0.0 <= self.dropout_rate < 1.0, "dropout_rate", "expected 0 <= rate < 1")
        require(self.cycle_weight >= 0, "cycle_weight", "expected >= 0")
        require(self.identity_weight >= 0, "identity_weight", "expected >= 0")
        require(0.0 <= self.ema_decay < 1.0, "ema_decay", "expected 0 <= decay < 1 (0 turns EMA off)")
        try:
            parse_policy(self.diffaugment_policy)
            valid_policy = True
        except ValueError:
            valid_policy = False
        require(valid_policy, "diffaugment_policy",
                f"expected \"\" (off) or a comma-separated subset of {','.join(AUGMENTATIONS)}")
        require(self.learning_rate > 0, "learning_rate", "expected > 0")
        require(0.0 <= self.beta_1 < 1.0, "beta_1", "expected 0 <= beta_1 < 1")
        require(0.0 <= self.decay_start_fraction <= 1.0, "decay_start_fraction",
                "expected a fraction between 0 and 1")
        require(isinstance(self.pool_size, int) and self.pool_size >= 0, "pool_size",
                "expected an integer >= 0")
        require(self.steps_per_epoch is None
                or (isinstance(self.steps_per_epoch, int) and self.steps_per_epoch > 0),
                "steps_per_epoch", "expected a positive integer or null")
        require(isinstance(self.quality_photo_count, int) and self.quality_photo_count >= 0,
                "quality_photo_count", "expected an integer >= 0 (0 turns the quality curve off)")
        require(self.feature_weights is None or isinstance(self.feature_weights, str),
                "feature_weights", "expected a path or null")
        for field in ("real_label", "fake_label"):
            require(0.0 <= getattr(self, field) <= 1.0, field, "expected a label in [0, 1]")
        return self

    # Derived values.

    @property
    def identity_loss_weight(self):
        """The weight of the identity loss: a fraction of the cycle weight, as in the paper."""
        return self.identity_weight * self.cycle_weight

    def decay_start_step(self, total_steps):
        """The step at which the learning rate starts its linear decay, in a run of `total_steps`."""
        return round(self.decay_start_fraction * total_steps)

    # Persistence.

    def to_json(self, path):
        """Writes the config as JSON, atomically."""
        with files.replaced_atomically(path) as temporary_path:
            with open(temporary_path, "w") as file:
                json.dump(dataclasses.asdict(self), file, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, path):
        with tf.io.gfile.GFile(path) as file:
            values = json.load(file)
        return cls.from_dict(values, source=path)

    @classmethod
    def from_dict(cls, values, source="config"):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown config keys in {source}: {unknown}. Known keys: {sorted(known)}.")
        return cls(**values)

    def replace(self, **changes):
        """A copy with some fields changed; None values are ignored (unset CLI flags)."""
        changes = {key: value for key, value in changes.items() if value is not None}
        return dataclasses.replace(self, **changes)

    def architecture_mismatches(self, other):
        """Names the architecture fields in which this config differs from `other`."""
        return [
            f"{field}: {getattr(other, field)!r} in the run, {getattr(self, field)!r} requested"
            for field in ARCHITECTURE_FIELDS
            if getattr(self, field) != getattr(other, field)
        ]


# What a device may change in the recipe: the fields `device_overrides` returns.
DEVICE_FIELDS = ("batch_size", "steps_per_execution")


def device_overrides(machine, config=None, replicas=None):
    """The recipe's values for this machine's accelerator, as a dict of TrainConfig fields.

    `machine` is a `monet_gan.devices.Devices`. TPUs and CPUs keep the recipe. On GPUs the global
    batch is the largest per-GPU batch whose estimated step memory (`memory.estimate_step_memory`
    under the policy the GPUs train in) fits each GPU's memory with room to spare, times the
    GPUs: 4 per 15 GB T4 at 256 px with ResNet-9 in mixed_float16, 8 for Kaggle's two T4s.
    Several GPUs train with MirroredStrategy, which takes one step per call (keras#19246).
    `replicas` (default: every GPU) is how many of them share the global batch.
    """
    if machine.kind != "gpu":
        return {}
    config = config or TrainConfig()
    if config.mixed_precision == "off":
        policy = "float32"
    else:
        policy = "mixed_bfloat16" if machine.has_bfloat16 else "mixed_float16"
    per_replica = memory.largest_batch_per_replica(config, machine.memory_bytes, policy) or 1
    return {"batch_size": per_replica * (replicas or machine.count), "steps_per_execution": 1}


def apply_device_overrides(config, machine, replicas=None):
    """`config` with `device_overrides` applied to the fields still at the recipe's defaults.

    A field that differs from TrainConfig()'s default was set by the user and is kept. Returns
    (config, the overrides applied).
    """
    defaults = TrainConfig()
    applied = {
        field: value for field, value in device_overrides(machine, config, replicas).items()
        if getattr(config, field) == getattr(defaults, field) and getattr(config, field) != value
    }
    return (config.replace(**applied) if applied else config), applied


def steps_per_epoch_for(photo_count, batch_size, steps_per_execution=1, steps_per_epoch=None):
    """The train steps of one epoch: the one number the schedule, time budget and Keras all count.

    An epoch is one pass over the photos (`photo_count // batch_size`) unless `steps_per_epoch`
    is given, rounded up to a multiple of `steps_per_execution`: Keras runs whole calls of that
    many steps, so 219 steps at 32 per call are 224 steps whatever the loop was told.
    """
    for name, value in (("photo_count", photo_count), ("batch_size", batch_size),
                        ("steps_per_execution", steps_per_execution)):
        if not isinstance(value, int) or value < (0 if name == "photo_count" else 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    steps = steps_per_epoch or photo_count // batch_size
    if steps == 0:
        return 0
    return -(-steps // steps_per_execution) * steps_per_execution


def ema_decay_for(total_steps, recipe=None):
    """The EMA decay that averages over the same share of a `total_steps` run as the recipe's does.

    The recipe's 0.999 averages over ~1 / (1 - 0.999) = 1,000 of its 6,570 steps, the last ~15%.
    A shorter run keeps that share rather than the decay itself: 0.999 over 300 steps would leave
    three quarters of the average on the first step's weights. Rounded to 4 decimals.
    """
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    recipe = recipe or TrainConfig()
    recipe_steps = recipe.epochs * steps_per_epoch_for(RECIPE_PHOTO_COUNT, recipe.batch_size)
    share = 1.0 / (1.0 - recipe.ema_decay) / recipe_steps
    return round(max(0.0, 1.0 - 1.0 / (share * total_steps)), 4)
