"""DiffAugment: differentiable augmentation of every image a discriminator sees.

Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient GAN Training"
(NeurIPS 2020), https://github.com/mit-han-lab/data-efficient-gans. With few real images (300
Monets) a discriminator memorizes them and its feedback stops helping the generator. Augmenting
only the reals would teach the generator to produce augmented-looking images, so the same kind
of augmentation (with fresh random draws per image) is applied to reals AND fakes, in the
discriminator's update and in the generator's; every op is differentiable so the generator's
gradient flows back through it.

The ops follow the paper's reference implementation:
  - "color": brightness + U(-0.5, 0.5), then saturation x U(0, 2) around each pixel's channel
    mean, then contrast x U(0.5, 1.5) around each image's mean.
  - "translation": a shift of up to `translation_ratio` of the height and width (rounded), one
    per image, filling the uncovered border with 0 as the reference does. For images in
    [-1, 1] zero is mid-grey, a value the image range already contains.
  - "cutout": a square of `cutout_ratio` of the height and width (rounded) set to 0 in each
    image, centred anywhere in the image and clipped at its border.

Range: nothing is clipped, as in the paper. Translation and cutout only move values or insert
zeros, so images in [-1, 1] stay in [-1, 1]; color can leave the input range.

Everything is `keras.ops` and `keras.random` with static image shapes, so it runs unchanged on
the TensorFlow and JAX backends, compiles under XLA (a jitted JAX step, `jit_compile=True`) and
works for any batch size (also the per-replica batch under a distribution strategy).

Random draws come from `keras.random` with a seed: an int gives the same augmentation every call,
a `keras.random.SeedGenerator` a new one every call from a state that is a variable (checkpointed,
and threaded through a jitted JAX step by `stateless_call`), so a resumed run continues the same
stream.
"""

import numpy as np
from keras import ops
from keras import random

AUGMENTATIONS = ("color", "translation", "cutout")
# The most random draws one op makes; an int seed is expanded into this many seeds per op.
DRAWS_PER_OP = 4


def parse_policy(policy):
    """The op names of a comma-separated policy, in order; "" gives none.

    Raises:
        ValueError: for names that are not in AUGMENTATIONS, naming them.
    """
    if not isinstance(policy, str):
        raise ValueError(f"The DiffAugment policy must be a comma-separated string, got {policy!r}.")
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"Unknown DiffAugment op(s) {', '.join(map(repr, unknown))} in policy {policy!r}; "
            f"choose from {', '.join(AUGMENTATIONS)}."
        )
    return names


def diff_augment(images, policy="color,translation,cutout", translation_ratio=0.125, cutout_ratio=0.5, seed=None):
    """Applies the policy's ops, in order, with independent random draws per image.

    Args:
        images: (batch, height, width, channels) images, typically in [-1, 1]; height and width
            must be static.
        policy: comma-separated op names from AUGMENTATIONS; "" returns `images` unchanged.
        translation_ratio: the largest shift as a fraction of the height and width.
        cutout_ratio: the cut square's side as a fraction of the height and width.
        seed: a `keras.random.SeedGenerator` draws a new augmentation on every call and
            advances its state; it is what a layer or a training step holds. An int makes the
            draws reproducible: the same int gives the same augmentation. None draws from
            Keras' global seed generator, which works eagerly but not inside a jitted JAX
            function (Keras then asks for a seed).

    Returns:
        The augmented images, same shape and dtype as `images`.
    """
    names = parse_policy(policy)
    if not names:
        return images
    valid_seed = (
        seed is None
        or isinstance(seed, random.SeedGenerator)
        or (isinstance(seed, int) and not isinstance(seed, bool))
    )
    if not valid_seed:
        raise ValueError(
            f"The DiffAugment seed must be None, an int or a keras.random.SeedGenerator, got {seed!r}."
        )
    dtype = images.dtype
    # Work in float32 so bfloat16 images do not lose precision in the means and products.
    x = ops.cast(images, "float32")
    draws = _RandomDraws(seed, count=len(names))
    for name in names:
        if name == "color":
            x = _color(x, draws)
        elif name == "translation":
            x = _translation(x, translation_ratio, draws)
        else:
            x = _cutout(x, cutout_ratio, draws)
    return ops.cast(x, dtype)


class _RandomDraws:
    """Hands out uniform draws, each from its own seed when the caller gave an int seed."""

    def __init__(self, seed, count):
        self.seeds = [seed] * (DRAWS_PER_OP * count)
        if isinstance(seed, int):
            # Independent int seeds, one per draw, made from the caller's seed in Python: the
            # draws then need no seed arithmetic on tensors, which the backends do differently.
            states = np.random.SeedSequence(seed).generate_state(DRAWS_PER_OP * count)
            self.seeds = [int(state) & 0x7FFFFFFF for state in states]
        self.used = 0

    def _next_seed(self):
        seed = self.seeds[self.used]
        self.used += 1
        return seed

    def uniform(self, shape, minval=0.0, maxval=1.0):
        return random.uniform(shape, minval=minval, maxval=maxval, dtype="float32", seed=self._next_seed())

    def randint(self, shape, minval, maxval):
        return random.randint(shape, minval=minval, maxval=maxval, dtype="int32", seed=self._next_seed())


def _color(x, draws):
    batch_shape = (ops.shape(x)[0], 1, 1, 1)
    x = x + (draws.uniform(batch_shape) - 0.5)
    channel_mean = ops.mean(x, axis=3, keepdims=True)
    x = (x - channel_mean) * (draws.uniform(batch_shape) * 2.0) + channel_mean
    image_mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - image_mean) * (draws.uniform(batch_shape) + 0.5) + image_mean


def _static_size(x):
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(f"DiffAugment needs a static image height and width, got shape {x.shape}.")
    return height, width


def _shift_axis(x, shifts, axis, size):
    """Moves each image by its own `shifts` pixels along `axis` (1 rows, 2 columns), zero-filling."""
    source = ops.arange(size, dtype="int32")[None, :] - shifts[:, None]
    inside = ops.logical_and(source >= 0, source < size)
    index_shape = (-1, size, 1, 1) if axis == 1 else (-1, 1, size, 1)
    moved = ops.take_along_axis(x, ops.reshape(ops.clip(source, 0, size - 1), index_shape), axis=axis)
    return moved * ops.reshape(ops.cast(inside, x.dtype), index_shape)


def _translation(x, ratio, draws):
    height, width = _static_size(x)
    batch = (ops.shape(x)[0],)
    # int(... + 0.5) rounds as the reference does.
    max_rows, max_columns = int(height * ratio + 0.5), int(width * ratio + 0.5)
    rows = draws.randint(batch, minval=-max_rows, maxval=max_rows + 1)
    columns = draws.randint(batch, minval=-max_columns, maxval=max_columns + 1)
    x = _shift_axis(x, rows, axis=1, size=height)
    return _shift_axis(x, columns, axis=2, size=width)


def _cutout(x, ratio, draws):
    height, width = _static_size(x)
    batch = (ops.shape(x)[0],)
    cut_height, cut_width = int(height * ratio + 0.5), int(width * ratio + 0.5)
    # The square's centre; the reference lets an even-sized square reach one pixel further.
    centre_rows = draws.randint(batch, minval=0, maxval=height + (1 - cut_height % 2))
    centre_columns = draws.randint(batch, minval=0, maxval=width + (1 - cut_width % 2))
    top = centre_rows - cut_height // 2
    left = centre_columns - cut_width // 2
    row_ids = ops.arange(height, dtype="int32")[None, :]
    column_ids = ops.arange(width, dtype="int32")[None, :]
    in_rows = ops.logical_and(row_ids >= top[:, None], row_ids < (top + cut_height)[:, None])
    in_columns = ops.logical_and(column_ids >= left[:, None], column_ids < (left + cut_width)[:, None])
    cut = ops.logical_and(in_rows[:, :, None], in_columns[:, None, :])
    return x * ops.cast(ops.logical_not(cut), x.dtype)[:, :, :, None]
