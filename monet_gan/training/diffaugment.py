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

Everything is graph ops with static image shapes, XLA-compilable, and works for any batch size
(also the per-replica batch under a distribution strategy).
"""

import tensorflow as tf

AUGMENTATIONS = ("color", "translation", "cutout")


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
        seed: None draws from TensorFlow's stateful random ops (a new augmentation every call).
            An int or a shape-(2,) integer tensor makes the draws stateless and reproducible:
            the same seed gives the same augmentation, so a training loop that wants both
            reproducibility and variety passes a per-step seed such as [seed, step].

    Returns:
        The augmented images, same shape and dtype as `images`.
    """
    names = parse_policy(policy)
    if not names:
        return images
    dtype = images.dtype
    # Work in float32 so bfloat16 images do not lose precision in the means and products.
    x = tf.cast(images, tf.float32)
    draws = _RandomDraws(seed, count=len(names))
    for name in names:
        if name == "color":
            x = _color(x, draws)
        elif name == "translation":
            x = _translation(x, translation_ratio, draws)
        else:
            x = _cutout(x, cutout_ratio, draws)
    return tf.cast(x, dtype)


class _RandomDraws:
    """Hands out uniform draws, each from its own seed when the caller asked for reproducibility."""

    def __init__(self, seed, count):
        self.seeds = None
        if seed is not None:
            seed = tf.convert_to_tensor(seed)
            if seed.shape.rank == 0:
                seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
            # Four draws per op at most: split the seed once into independent seeds. Philox is
            # named because "auto_select" picks different generators with and without XLA.
            self.seeds = tf.random.experimental.stateless_split(
                tf.cast(seed, tf.int64), num=4 * count, alg="philox"
            )
        self.used = 0

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=tf.float32):
        if self.seeds is None:
            return tf.random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype)
        seed = self.seeds[self.used]
        self.used += 1
        return tf.random.stateless_uniform(
            shape, seed=seed, minval=minval, maxval=maxval, dtype=dtype, alg="philox"
        )


def _color(x, draws):
    batch_shape = [tf.shape(x)[0], 1, 1, 1]
    x = x + (draws.uniform(batch_shape) - 0.5)
    channel_mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - channel_mean) * (draws.uniform(batch_shape) * 2.0) + channel_mean
    image_mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - image_mean) * (draws.uniform(batch_shape) + 0.5) + image_mean


def _static_size(x):
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(f"DiffAugment needs a static image height and width, got shape {x.shape}.")
    return height, width


def _shift_axis(x, shifts, axis, size):
    """Moves each image by its own `shifts` pixels along `axis` (1 rows, 2 columns), zero-filling."""
    source = tf.range(size)[tf.newaxis, :] - shifts[:, tf.newaxis]
    inside = tf.logical_and(source >= 0, source < size)
    moved = tf.gather(x, tf.clip_by_value(source, 0, size - 1), axis=axis, batch_dims=1)
    mask_shape = [-1, size, 1, 1] if axis == 1 else [-1, 1, size, 1]
    return moved * tf.reshape(tf.cast(inside, x.dtype), mask_shape)


def _translation(x, ratio, draws):
    height, width = _static_size(x)
    batch = [tf.shape(x)[0]]
    # int(... + 0.5) rounds as the reference does.
    max_rows, max_columns = int(height * ratio + 0.5), int(width * ratio + 0.5)
    rows = draws.uniform(batch, minval=-max_rows, maxval=max_rows + 1, dtype=tf.int32)
    columns = draws.uniform(batch, minval=-max_columns, maxval=max_columns + 1, dtype=tf.int32)
    x = _shift_axis(x, rows, axis=1, size=height)
    return _shift_axis(x, columns, axis=2, size=width)


def _cutout(x, ratio, draws):
    height, width = _static_size(x)
    batch = [tf.shape(x)[0]]
    cut_height, cut_width = int(height * ratio + 0.5), int(width * ratio + 0.5)
    # The square's centre; the reference lets an even-sized square reach one pixel further.
    centre_rows = draws.uniform(batch, minval=0, maxval=height + (1 - cut_height % 2), dtype=tf.int32)
    centre_columns = draws.uniform(batch, minval=0, maxval=width + (1 - cut_width % 2), dtype=tf.int32)
    top = centre_rows - cut_height // 2
    left = centre_columns - cut_width // 2
    row_ids = tf.range(height)[tf.newaxis, :]
    column_ids = tf.range(width)[tf.newaxis, :]
    in_rows = tf.logical_and(row_ids >= top[:, tf.newaxis], row_ids < (top + cut_height)[:, tf.newaxis])
    in_columns = tf.logical_and(
        column_ids >= left[:, tf.newaxis], column_ids < (left + cut_width)[:, tf.newaxis]
    )
    cut = tf.logical_and(in_rows[:, :, tf.newaxis], in_columns[:, tf.newaxis, :])
    return x * tf.cast(tf.logical_not(cut), x.dtype)[:, :, :, tf.newaxis]
