"""The input pipeline: a source's encoded images -> tf.data datasets of [-1, 1] images.

Images are decoded to RGB, resized (bilinear, antialiased) only when they are not the configured
size, and scaled with x / 127.5 - 1. Training batches pair shuffled, jittered photos with
shuffled, jittered Monets (sources.py says what a source is).
"""

import functools

import tensorflow as tf

from monet_gan.data import sources
from monet_gan.data.sources import AUTOTUNE
from monet_gan.data.sources import IMAGE_SIZE
from monet_gan.errors import UserError

# Random jitter upscales 256 px images to 286 px before cropping back, as in the CycleGAN paper.
JITTER_SCALE = 286 / 256
# The seeds of epoch e are the run's seed plus e times this stride, so the four seeds one epoch
# uses (photo order and jitter, Monet order and jitter: offsets 0, 1, 1000, 1001) never meet
# those of another epoch.
EPOCH_SEED_STRIDE = 10_000


# ---------------------------------------------------------------------------------------------
# Decoding and augmentation (graph functions, run inside tf.data maps).


def decode_image(encoded, image_size=IMAGE_SIZE, label=""):
    """JPEG/PNG bytes -> float32 (S, S, 3) in [-1, 1]; `label` names the image in errors."""
    is_known_format = tf.logical_or(
        tf.io.is_jpeg(encoded), tf.equal(tf.strings.substr(encoded, 0, len(sources.PNG_MAGIC)), sources.PNG_MAGIC)
    )
    check = tf.debugging.Assert(is_known_format, ["not a JPEG or PNG image:", label])
    with tf.control_dependencies([check]):
        # channels=3 turns grayscale and RGBA inputs into RGB.
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    shape = tf.shape(image)
    right_size = tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size))
    image = tf.cond(
        right_size,
        lambda: tf.cast(image, tf.float32),
        # Rounding can take an antialiased pixel a hair past 255; the clip keeps [-1, 1] exact.
        lambda: tf.clip_by_value(
            tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True),
            0.0,
            255.0,
        ),
    )
    image = tf.ensure_shape(image, [image_size, image_size, 3])
    return image / 127.5 - 1.0


def random_jitter(image, seed):
    """Upscales a square image ~1.12x, crops it back at a random place and maybe mirrors it.

    `seed` is a shape-[2] integer tensor; the stateless ops make the result depend on it alone,
    so a seeded pipeline augments identically however its parallel maps are scheduled.
    """
    size = image.shape[0]
    jitter_size = int(round(size * JITTER_SCALE))
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    image = tf.image.resize(image, [jitter_size, jitter_size], method="bilinear")
    image = tf.image.stateless_random_crop(image, [size, size, 3], seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)



def _check_image_size(image_size):
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")


def load_images(source, image_size=IMAGE_SIZE, with_names=False):
    """Unbatched float32 (S, S, 3) images in [-1, 1], in a fixed order, without augmentation.

    Image files come in sorted order; TFRecord shards are read up to 8 at a time, interleaved.

    With `with_names=True` the elements are (name, image); the name is the TFRecord's
    `image_name` or the file name without its extension.
    """
    _check_image_size(image_size)

    def decode(name, encoded, label):
        image = decode_image(encoded, image_size, label)
        return (name, image) if with_names else image

    return sources.encoded_images(sources.list_files(source)).map(decode, num_parallel_calls=AUTOTUNE)


def _domain_stream(source, image_size, augment, seed, repeat):
    """Shuffled (name, image) pairs of one domain, jittered when `augment` is on."""
    records = sources.encoded_images(sources.list_files(source), shuffle=True, seed=seed, repeat=repeat)
    if not augment:
        return records.map(
            lambda name, encoded, label: (name, decode_image(encoded, image_size, label)),
            num_parallel_calls=AUTOTUNE,
        )
    # One seed pair per image, drawn from a seeded stream so that augmentation is reproducible
    # and still differs from pass to pass.
    element_seeds = tf.data.Dataset.random(
        seed=None if seed is None else seed + 1, rerandomize_each_iteration=True
    ).batch(2)
    return tf.data.Dataset.zip(records, element_seeds).map(
        lambda record, element_seed: (
            record[0],
            random_jitter(decode_image(record[1], image_size, record[2]), element_seed),
        ),
        num_parallel_calls=AUTOTUNE,
    )


def training_dataset(
    photo_source,
    monet_source,
    image_size=IMAGE_SIZE,
    global_batch_size=1,
    augment=True,
    seed=None,
    repeat=False,
    with_names=False,
    steps_per_epoch=None,
    first_epoch=0,
    end_epoch=None,
):
    """Unpaired batches (photos, monets), each float32 (B, S, S, 3) in [-1, 1].

    One pass walks ALL photos in a new order; the Monets are repeated and shuffled independently
    alongside, so the (usually smaller) Monet set never cuts a pass short. Batches have exactly
    `global_batch_size` images (the last partial batch is dropped: TPUs need static shapes).
    `repeat=True` makes the photo stream endless, each pass in a new order (use with
    steps_per_epoch). A `seed` fixes both the order and the augmentation. With `with_names=True`
    the elements are (photos, monets, photo_names, monet_names).

    With `steps_per_epoch` (and `end_epoch`) the stream is made of the epochs `first_epoch` to
    `end_epoch - 1`: epoch e is its own shuffled pass (repeated if it needs more photos than
    there are), cut at `steps_per_epoch` batches, with every seed offset by e
    (EPOCH_SEED_STRIDE). A run resumed after epoch e therefore sees exactly the batches an
    uninterrupted run sees from epoch e on, without reading the earlier epochs' images. The
    epochs are built one by one with Python integer seeds: tf.data's shuffles do not accept a
    tensor seed when the global seed is 0 (`keras.utils.set_random_seed(0)`).
    """
    _check_image_size(image_size)
    if not isinstance(global_batch_size, int) or global_batch_size < 1:
        raise ValueError(f"global_batch_size must be a positive integer, got {global_batch_size!r}")
    if seed is not None and not isinstance(seed, int):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    if steps_per_epoch is not None and (not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
        raise ValueError(
            f"steps_per_epoch must be a positive integer or None, got steps_per_epoch={steps_per_epoch!r}"
        )
    if not isinstance(first_epoch, int) or first_epoch < 0:
        raise ValueError(f"first_epoch must be an integer >= 0, got first_epoch={first_epoch!r}")
    if (steps_per_epoch is None) != (end_epoch is None):
        raise ValueError(
            "steps_per_epoch and end_epoch go together, got "
            f"steps_per_epoch={steps_per_epoch!r}, end_epoch={end_epoch!r}"
        )
    if end_epoch is not None and (not isinstance(end_epoch, int) or end_epoch <= first_epoch):
        raise ValueError(
            f"end_epoch must be an integer > first_epoch={first_epoch}, got end_epoch={end_epoch!r}"
        )
    photo_count = sources.count_images(photo_source)
    if photo_count < global_batch_size:
        raise UserError(
            f"{photo_source} holds {photo_count} photos, fewer than the global batch size "
            f"{global_batch_size}"
        )

    def batches_of(epoch_seed, photo_repeat, count=None):
        photos = _domain_stream(photo_source, image_size, augment, epoch_seed, photo_repeat)
        monet_seed = None if epoch_seed is None else epoch_seed + 1000
        monets = _domain_stream(monet_source, image_size, augment, monet_seed, repeat=True)
        pairs = tf.data.Dataset.zip(photos, monets)
        if count is not None:
            pairs = pairs.take(count)
        return pairs.batch(global_batch_size, drop_remainder=True, num_parallel_calls=AUTOTUNE)

    if steps_per_epoch is None:
        batches = batches_of(seed, repeat)
    else:
        images_per_epoch = steps_per_epoch * global_batch_size

        epochs = [
            batches_of(
                None if seed is None else seed + epoch * EPOCH_SEED_STRIDE,
                photo_repeat=True, count=images_per_epoch,
            )
            for epoch in range(first_epoch, end_epoch)
        ]
        batches = functools.reduce(tf.data.Dataset.concatenate, epochs)

    def arrange(photo_batch, monet_batch):
        (photo_names, photo_images), (monet_names, monet_images) = photo_batch, monet_batch
        if with_names:
            return photo_images, monet_images, photo_names, monet_names
        return photo_images, monet_images

    return batches.map(arrange, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
