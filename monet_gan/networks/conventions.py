"""What every network of the package shares: the papers' initialization and the argument checks.

The generators and the discriminators draw their weights the same way and check their arguments
up front the same way, so that a bad value raises one ValueError quoting it before any layer is
built.
"""

import keras

from monet_gan.networks import initializers
from monet_gan.networks import layers


def kernel_initializer():
    """The N(0, 0.02) weight initialization of the pix2pix and CycleGAN papers."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def instance_norm(name, norm_gamma_init="ones"):
    """Instance normalization whose gamma starts as `initializers.NORM_GAMMA_INITS` names."""
    return layers.InstanceNormalization(
        gamma_initializer=initializers.norm_gamma_initializer(norm_gamma_init), name=name
    )


def check_positive_int(value, argument):
    """Raises ValueError unless `value` is an int >= 1 (a bool is not an int here)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {argument}={value!r}")


def check_dropout_rate(dropout_rate):
    """Raises ValueError unless 0 <= dropout_rate < 1."""
    valid = isinstance(dropout_rate, (int, float)) and not isinstance(dropout_rate, bool)
    if not valid or not 0 <= dropout_rate < 1:
        raise ValueError(f"dropout_rate must be in [0, 1), got dropout_rate={dropout_rate!r}")


def check_name(name):
    """Raises ValueError unless `name` is a non-empty string."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got name={name!r}")
