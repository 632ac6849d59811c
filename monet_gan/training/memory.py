"""How much accelerator memory a CycleGAN training step needs, from the networks themselves.

    estimate = estimate_step_memory(config, batch_per_replica=4, policy="mixed_float16")
    estimate["total"] / 2**30   # GiB per replica

The estimate builds the four networks under the dtype policy and adds, per replica:

  - activations: every layer's output (its shape times the itemsize of its compute dtype),
    for each forward pass whose results the backward pass keeps. The peak is the larger of the
    two phases of `CycleGAN.train_step`, which run one after the other:
      * a generator update (`composite.build_composite`): four generator passes (the fake, the
        identity mapping, both cycles) and one discriminator pass on the fake;
      * a discriminator update: two discriminator passes (real and pooled fake).
  - weights (float32 variables), plus their compute-dtype copies when the policy is mixed;
  - one gradient per weight, and Adam's two moment slots; the exported generator's moving average.
  - the two image pools of past fakes (float32).

It leaves out what depends on the runtime rather than the networks: the framework's workspace for
convolutions (cuDNN), allocator fragmentation, and temporaries freed within a layer. So a device
should hold the estimate with room to spare: `fits` asks for at most `headroom` of its memory.
"""

import functools

import keras
import numpy as np

from monet_gan.networks import discriminators
from monet_gan.networks import generators

GENERATOR_PASSES = 4  # Fake, identity, forward cycle, backward cycle: one composite's forward.
GENERATOR_UPDATE_DISCRIMINATOR_PASSES = 1
DISCRIMINATOR_UPDATE_PASSES = 2  # Real images and pooled fakes.
ADAM_SLOTS = 2
# TensorFlow's float32 copies inside instance normalization, cuDNN's workspace and fragmentation
# are not counted: a GPU should hold the estimate in half its memory.
DEFAULT_HEADROOM = 0.5


def _check_batch(batch_per_replica):
    if not isinstance(batch_per_replica, int) or batch_per_replica < 1:
        raise ValueError(f"batch_per_replica must be a positive integer, got {batch_per_replica!r}")


@functools.lru_cache(maxsize=16)
def _network_figures(generator, image_size, generator_filters, num_residual_blocks, dropout_rate,
                     discriminator_filters, policy):
    """(generator activations, discriminator activations, generator weights, discriminator weights)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        generator_model = generators.build_generator(
            generator, image_size=image_size, filters=generator_filters,
            num_residual_blocks=num_residual_blocks, dropout_rate=dropout_rate, name="memory_generator",
        )
        discriminator_model = discriminators.build_discriminator(
            image_size, discriminator_filters, name="memory_discriminator"
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return (activation_bytes_per_image(generator_model), activation_bytes_per_image(discriminator_model),
            _weight_count(generator_model), _weight_count(discriminator_model))


def activation_bytes_per_image(model):
    """Bytes of all layer outputs of one forward pass of `model` for one image (inputs included)."""
    total = 0
    for layer in model.layers:
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for output in outputs:
            elements = int(np.prod([dimension for dimension in output.shape[1:]]))
            total += elements * np.dtype(output.dtype).itemsize
    return total


def _weight_count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.weights)


def estimate_step_memory(config, batch_per_replica, policy="float32", ema=None):
    """Bytes one replica needs for a training step, by part, and their "total".

    Args:
        config: a TrainConfig (its network fields and pool size are read).
        batch_per_replica: images of each domain per replica and step.
        policy: the Keras dtype policy the networks compute under, e.g. "mixed_float16".
        ema: whether the photo->Monet optimizer keeps a moving average; default from the config.
    """
    _check_batch(batch_per_replica)
    if policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
        raise ValueError(
            f"policy must be 'float32', 'mixed_float16' or 'mixed_bfloat16', got {policy!r}"
        )
    ema = config.ema_decay > 0 if ema is None else ema
    generator_activations, discriminator_activations, generator_weights, discriminator_weights = (
        _network_figures(config.generator, config.image_size, config.generator_filters,
                         config.num_residual_blocks, config.dropout_rate, config.discriminator_filters,
                         policy)
    )
    generator_update = (GENERATOR_PASSES * generator_activations
                        + GENERATOR_UPDATE_DISCRIMINATOR_PASSES * discriminator_activations)
    discriminator_update = DISCRIMINATOR_UPDATE_PASSES * discriminator_activations
    weight_count = 2 * generator_weights + 2 * discriminator_weights
    compute_copies = 0 if policy == "float32" else 2 * weight_count  # 2-byte copies per call.
    image_bytes = config.image_size**2 * 3 * 4
    parts = {
        "activations": batch_per_replica * max(generator_update, discriminator_update),
        "weights": 4 * weight_count + compute_copies,
        "gradients": 4 * weight_count,
        "optimizer_slots": 4 * ADAM_SLOTS * weight_count + (4 * generator_weights if ema else 0),
        "image_pools": 2 * config.pool_size * image_bytes,
        "inputs": 2 * batch_per_replica * image_bytes,
    }
    parts["total"] = sum(parts.values())
    parts["weight_count"] = weight_count
    parts["generator_activations_per_image"] = generator_activations
    parts["discriminator_activations_per_image"] = discriminator_activations
    return parts


def fits(estimate_bytes, device_bytes, headroom=DEFAULT_HEADROOM):
    """Whether an estimate leaves the device's runtime overheads room: at most `headroom` of it."""
    return estimate_bytes <= headroom * device_bytes


def largest_batch_per_replica(config, device_bytes, policy, candidates=(8, 4, 2, 1), headroom=DEFAULT_HEADROOM):
    """The largest batch per replica among `candidates` whose estimate fits the device, or None."""
    if not device_bytes or device_bytes <= 0:
        raise ValueError(f"device_bytes must be a positive number of bytes, got {device_bytes!r}")
    for batch in sorted(candidates, reverse=True):
        if fits(estimate_step_memory(config, batch, policy)["total"], device_bytes, headroom):
            return batch
    return None


def format_estimate(parts):
    """A one-line summary in GiB, e.g. 'total 5.1 GiB: activations 4.6, weights 0.1, ...'."""
    gib = 1024**3
    shown = [f"{name} {parts[name] / gib:.2f}" for name in (
        "activations", "weights", "gradients", "optimizer_slots", "image_pools", "inputs")]
    return f"total {parts['total'] / gib:.2f} GiB: " + ", ".join(shown)
