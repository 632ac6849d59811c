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

from monet_gan.networks.generators import ARCHITECTURES as GENERATOR_ARCHITECTURES
from monet_gan.training import memory
from monet_gan.training.losses import LOSS_KINDS

MIXED_PRECISION_CHOICES = ("auto", "on", "off")

# The fields that decide the shapes of the saved variables. A run directory made with one value
# of these cannot be resumed with another.
ARCHITECTURE_FIELDS = (
    "image_size",
    "generator",
    "generator_filters",
    "num_residual_blocks",
    "discriminator_filters",
    "pool_size",
)


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs to know.

    The defaults are the recipe; each with its reason and source. "Public figures" are those of
    the project README's table (leaderboard and public notebooks of this competition).

      - generator "resnet", 9 residual blocks: the CycleGAN paper's 256 px generator (Zhu et al.,
        2017, appendix 7.2). Its residual body keeps the photo's layout while the texture
        changes, and it trains more stably than the U-Net, whose skip connections let it copy
        the photo through.
      - loss "lsgan": least squares (Mao et al., 2017), the CycleGAN paper's choice; it gives
        gradients to fakes the discriminator already rejects, unlike the saturating BCE loss.
        "hinge" (Lim and Ye, 2017; the loss of BigGAN, one of DiffAugment's test beds) is the
        alternative; in bench/ablation.py's short runs (one seed) it scored no better.
      - cycle_weight 10 and identity_weight 0.5 (the identity loss weight is 0.5 x the cycle
        weight): the paper's values. Its section 5.2 adds the identity term for Monet <-> photo
        because without it the generators change the tint, e.g. daytime turns into sunset.
      - real_label 1.0 / fake_label 0.0: plain labels. One-sided label smoothing (real 0.9,
        Salimans et al., 2016) is the option for a discriminator that wins too easily; it stays
        an option because the short ablation runs could not tell it apart from plain labels.
      - Adam, learning rate 2e-4, beta_1 0.5, constant for the first half of training then
        linear decay to zero: the paper's schedule (100 + 100 epochs), scaled to the run; the
        decay to zero is also what lets a time budget end a run with settled weights.
      - pool_size 50: the paper's history of past fakes (Shrivastava et al., 2017), which keeps
        the discriminators from chasing the generators' latest output.
      - batch_size 32 (global): 4 per TPU v3-8 core, so every core gets the same share. The
        public tuned TF CycleGANs (37.4-41 MiFID) use batch 32 with repeat(); Kaggle's tutorial
        (53.8) trains with batch 1 on only 300 photos per epoch.
      - steps_per_epoch None: one epoch is one pass over all 7,038 photos (7,038 // 32 = 219
        steps), so every photo is seen every epoch.
      - epochs 30: 30 x 219 = 6,570 steps. Sized for the notebook's 5-hour limit by arithmetic,
        not by a TPU measurement: the tutorial's step (U-Net, 1 image per core) takes 126 ms on
        a v3-8; with 4 images per core and the heavier ResNet generator a step costs a few times
        that, so 6,570 steps take on the order of an hour or two, leaving time for painting the
        7,038 images. `--time-budget` makes a run that is slower than this end complete anyway.
      - diffaugment_policy "color,translation,cutout": DiffAugment (Zhao et al., 2020,
        "Differentiable Augmentation for Data-Efficient GAN Training") on every image a
        discriminator sees, real and fake, in its own update and in the generator's. With only
        300 Monets the Monet discriminator otherwise memorizes its training set and its
        gradients stop helping the generator; the public CycleGAN + DiffAugment notebook scores
        41.27. The memorization it prevents takes many passes over the Monets to set in: in
        bench/ablation.py's 300-step CPU runs it lowered the Monet discriminator's real
        accuracy (0.93-0.97 -> 0.75-0.80) as intended, but the paintings scored slightly worse
        at that length, where no discriminator has memorized anything yet; at 1,200 steps the
        gap was gone (the README's ablation section).
      - ema_decay 0.999: the photo->Monet generator is also exported as an exponential moving
        average of its weights (Yazici et al., 2019, "The Unusual Effectiveness of Averaging in
        GAN Training"; Karras et al., 2018 use it for ProGAN), which smooths the step-to-step
        oscillation of GAN training; submit.py uses it when present. 0 turns it off. It
        averages over ~1,000 steps, about the last 15% of the 6,570; a much shorter run needs a
        smaller decay (0.999 over 300 steps keeps 74% of the weight on the first step). With
        the horizon scaled that way, the short ablation runs showed no gain (the average scored
        slightly worse than the live weights): they end while the generator still improves
        quickly, and the averaging is meant for the later phase in which it oscillates around
        a good solution. Score both exports of a finished run to choose (submit.py --no-ema).
      - mixed_precision "auto": mixed_bfloat16 on TPUs and on CPUs with native bfloat16
        instructions, mixed_float16 on GPUs without bfloat16 units (Kaggle's T4 and P100),
        float32 elsewhere (strategy.choose_dtype_policy); bench/
        training_precision.py measured a CPU training step 2-3x faster in bfloat16.
    """

    # Networks.
    image_size: int = 256
    generator: str = "resnet"
    generator_filters: int = 64
    num_residual_blocks: int = 9
    dropout_rate: float = 0.5
    discriminator_filters: int = 64

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
    diffaugment_policy: str = "color,translation,cutout"
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
            sample_count=2,
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
        )
        for field in positive_ints:
            value = getattr(self, field)
            require(isinstance(value, int) and value > 0, field, "expected a positive integer")
        require(self.generator in GENERATOR_ARCHITECTURES, "generator",
                f"expected one of {GENERATOR_ARCHITECTURES}")
        require(self.loss in LOSS_KINDS, "loss", f"expected one of {LOSS_KINDS}")
        require(self.mixed_precision in MIXED_PRECISION_CHOICES, "mixed_precision",
                f"expected one of {MIXED_PRECISION_CHOICES}")
        require(0.0 <= self.dropout_rate < 1.0, "dropout_rate", "expected 0 <= rate < 1")
        require(self.cycle_weight >= 0, "cycle_weight", "expected >= 0")
        require(self.identity_weight >= 0, "identity_weight", "expected >= 0")
        require(0.0 <= self.ema_decay < 1.0, "ema_decay", "expected 0 <= decay < 1 (0 turns EMA off)")
        require(isinstance(self.diffaugment_policy, str), "diffaugment_policy",
                "expected a comma-separated string such as 'color,translation,cutout'")
        require(self.learning_rate > 0, "learning_rate", "expected > 0")
        require(0.0 <= self.beta_1 < 1.0, "beta_1", "expected 0 <= beta_1 < 1")
        require(0.0 <= self.decay_start_fraction <= 1.0, "decay_start_fraction",
                "expected a fraction between 0 and 1")
        require(isinstance(self.pool_size, int) and self.pool_size >= 0, "pool_size",
                "expected an integer >= 0")
        require(self.steps_per_epoch is None
                or (isinstance(self.steps_per_epoch, int) and self.steps_per_epoch > 0),
                "steps_per_epoch", "expected a positive integer or null")
        for field in ("real_label", "fake_label"):
            require(0.0 <= getattr(self, field) <= 1.0, field, "expected a label in [0, 1]")
        return self

    # Derived values.

    @property
    def identity_loss_weight(self):
        """The weight of the identity loss: a fraction of the cycle weight, as in the paper."""
        return self.identity_weight * self.cycle_weight

    # Persistence.

    def to_json(self, path):
        """Writes the config as JSON, atomically."""
        temporary_path = f"{path}.tmp"
        with tf.io.gfile.GFile(temporary_path, "w") as file:
            json.dump(dataclasses.asdict(self), file, indent=2, sort_keys=True)
        tf.io.gfile.rename(temporary_path, path, overwrite=True)

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
