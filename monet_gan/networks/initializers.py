"""The initial scale of the instance normalizations, chosen by name.

Kaggle's CycleGAN tutorial initializes every instance norm's gamma from N(0, 0.02), the
distribution its convolutions use. A gamma that small multiplies each normalized signal by
about 0.02, so after a few norms the generator's output at initialization is ~1e-5: flat grey,
with gradients that are as small. The CycleGAN reference implementation uses no affine
parameters at all (gamma 1, beta 0), which is what "ones" gives: every norm starts as a true
normalizer. On the real data at 64 px, 1,200 steps with "ones" ended at cycle loss 0.70
instead of 0.94 and proxy FID 2,772 instead of 3,670 (docs/quality.md).

"tutorial" stays available to reproduce tutorial-era training runs exactly. Loading saved
weights does not depend on it: a checkpoint or .keras file overwrites gamma either way.
"""

import keras

NORM_GAMMA_INITS = ("ones", "tutorial")


def check_norm_gamma_init(norm_gamma_init):
    """Raises ValueError unless `norm_gamma_init` names one of NORM_GAMMA_INITS."""
    if norm_gamma_init not in NORM_GAMMA_INITS:
        raise ValueError(
            f"norm_gamma_init must be one of {NORM_GAMMA_INITS}, "
            f"got norm_gamma_init={norm_gamma_init!r}"
        )


def norm_gamma_initializer(norm_gamma_init="ones"):
    """The Keras initializer of an instance norm's gamma for a NORM_GAMMA_INITS name."""
    check_norm_gamma_init(norm_gamma_init)
    if norm_gamma_init == "tutorial":
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)
    return keras.initializers.Ones()
