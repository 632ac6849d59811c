"""Feature networks for FID, KID and MiFID, and streaming feature extraction.

Two networks can be chosen by name:

- "inception": Keras' InceptionV3 (`include_top=False, pooling="avg"`), 2048 features. Its
  "imagenet" weights are a stand-in for the 2015 TF Inception graph Kaggle scores with; numbers
  come out a few points off Kaggle's, so a local score ranks models rather than predicting the
  leaderboard.
- "squeezenet": SqueezeNet v1.1 with ImageNet weights from an HDF5 file, 512 features. A proxy
  for machines without Inception weights: its FID/KID/MiFID are not MiFID and not comparable
  with the leaderboard; only orderings between models carry over, and only roughly.

Either network takes batches of 0-255 RGB images of any size; resizing and the network's own
preprocessing run as graph ops inside one `tf.function`.
"""

import os

import keras
import numpy as np
import tensorflow as tf
import tqdm

from monet_gan import errors
from monet_gan.errors import UserError
from monet_gan.generation import image_zip
from monet_gan.metrics import squeezenet
from monet_gan.metrics.squeezenet import SQUEEZENET_INPUT_SIZE
from monet_gan.metrics.squeezenet import SQUEEZENET_WEIGHTS_FILE

FEATURE_NETWORKS = ("inception", "squeezenet")
INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_INPUT_SIZE = 299


class FeatureNetwork:
    """A feature model with its preprocessing, applied to batches of 0-255 RGB images.

    Attributes:
      name: "inception" or "squeezenet".
      description: a human-readable label naming the weights, for reports.
      is_mifid_network: True only for InceptionV3 with ImageNet weights, whose scores are
        (a stand-in for) MiFID; False for proxies and randomly initialised networks.
      dimension: the number of features per image.
      model: the Keras model, which takes preprocessed images.
    """

    def __init__(self, name, model, input_size, preprocess, description, is_mifid_network):
        self.name = name
        self.model = model
        self.input_size = input_size
        self.description = description
        self.is_mifid_network = is_mifid_network
        self.dimension = int(model.output_shape[-1])
        self._preprocess = preprocess

        # One traced graph serves every batch size and image size.
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def features_of(images):
            images = tf.image.resize(images, (input_size, input_size), method="bilinear")
            return self.model(self._preprocess(images), training=False)

        self._features_of = features_of

    def __call__(self, images):
        """Returns float32 (N, dimension) features of a uint8 or float 0-255 (N, H, W, 3) batch."""
        images = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
        if keras.backend.backend() == "tensorflow":
            return self._features_of(images).numpy()
        # Other backends: the same bilinear resize on the host with TensorFlow, then the model.
        images = tf.image.resize(images, (self.input_size, self.input_size), method="bilinear").numpy()
        return np.asarray(self.model.predict_on_batch(self._preprocess(images)), dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# InceptionV3


def _inception_preprocess(images):
    return keras.applications.inception_v3.preprocess_input(images)


def build_inception(weights="imagenet"):
    """Keras' InceptionV3 without its classifier, average-pooled to 2048 features.

    Args:
      weights: "imagenet" (downloaded into the Keras cache when online), a path to a weights
        file such as inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5, or None for a
        random initialisation (tests only).
    """
    input_shape = (INCEPTION_INPUT_SIZE, INCEPTION_INPUT_SIZE, 3)
    if weights is None:
        return keras.applications.InceptionV3(
            include_top=False, pooling="avg", weights=None, input_shape=input_shape
        )
    if weights == "imagenet":
        try:
            return keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights="imagenet", input_shape=input_shape
            )
        except Exception as error:  # Keras raises a bare Exception when the download fails.
            raise UserError(
                "the InceptionV3 ImageNet weights are not in the Keras cache and could not be "
                f"downloaded ({error}). Offline (e.g. a Kaggle notebook with internet off), "
                f"attach a dataset holding {INCEPTION_WEIGHTS_FILE} and pass --weights PATH "
                "(weights=PATH in Python), or use --feature-net squeezenet --weights "
                f"{SQUEEZENET_WEIGHTS_FILE} for a proxy score that is not MiFID"
            ) from None
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise UserError(f"InceptionV3 weights file not found: {path}")
    model = keras.applications.InceptionV3(
        include_top=False, pooling="avg", weights=None, input_shape=input_shape
    )
    errors.load_weights(
        model, path,
        f"{path} does not hold InceptionV3 (include_top=False) weights; expected Keras' "
        f"{INCEPTION_WEIGHTS_FILE}",
    )
    return model


# ----------------------------------------------------------------------------------------------
# Choosing a network by name


def build_feature_network(name="inception", weights=None, random_init_for_tests=False):
    """Builds a feature network by name.

    Args:
      name: "inception" (the default, Kaggle's metric network stand-in) or "squeezenet" (a
        proxy whose numbers are not MiFID).
      weights: a path to a local weights file. None means: Inception's "imagenet" weights from
        the Keras cache, downloaded when online; for SqueezeNet, squeezenet_v1.1_imagenet_notop.h5
        in the Keras cache (~/.keras/models), since it cannot be downloaded.
      random_init_for_tests: build with random weights, for plumbing tests only; the numbers
        it gives mean nothing.

    Returns:
      A `FeatureNetwork`.
    """
    if name not in FEATURE_NETWORKS:
        raise ValueError(f"name must be one of {FEATURE_NETWORKS}, got {name!r}")
    if random_init_for_tests and weights is not None:
        raise ValueError(f"random_init_for_tests takes no weights file, got {weights!r}")
    if name == "inception":
        if random_init_for_tests:
            model, label = build_inception(None), "InceptionV3, random weights (tests only)"
        elif weights is None:
            model = build_inception("imagenet")
            label = "InceptionV3, Keras 'imagenet' weights (stand-in for Kaggle's 2015 graph)"
        else:
            model = build_inception(weights)
            label = f"InceptionV3, weights {os.fspath(weights)} (stand-in for Kaggle's graph)"
        return FeatureNetwork(
            name, model, INCEPTION_INPUT_SIZE, _inception_preprocess, label,
            is_mifid_network=not random_init_for_tests,
        )
    if random_init_for_tests:
        model, label = squeezenet.build_squeezenet(None), "SqueezeNet v1.1, random weights (tests only)"
    else:
        if weights is None:
            weights = os.path.join(_keras_cache_dir(), SQUEEZENET_WEIGHTS_FILE)
            if not os.path.isfile(weights):
                raise UserError(
                    f"SqueezeNet weights not found at {weights}: pass --weights PATH to "
                    f"{SQUEEZENET_WEIGHTS_FILE} (weights=PATH in Python)"
                )
        model = squeezenet.build_squeezenet(weights)
        label = "SqueezeNet v1.1 ImageNet weights (a PROXY: these numbers are not MiFID)"
    return FeatureNetwork(
        name, model, SQUEEZENET_INPUT_SIZE, squeezenet.preprocess, label, is_mifid_network=False
    )


def _keras_cache_dir():
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(keras_home, "models")


# ----------------------------------------------------------------------------------------------
# Streaming images through a network


def _is_zip(source):
    return str(source).lower().endswith(".zip") and os.path.isfile(source)


def count_source_images(source):
    """The number of images in a zip, a folder of images, TFRecords or a glob."""
    if _is_zip(source):
        return image_zip.count_zip_images(source)
    from monet_gan.data import sources  # Imported late: only folders and TFRecords need it.

    return sources.count_images(os.fspath(source))


def image_batches(source, batch_size=50, image_size=256):
    """Yields float32 (N, S, S, 3) batches of 0-255 RGB images from a source.

    A zip is read with the safe checks of `image_zip` (every image must be image_size square
    and RGB); a folder of images, TFRecords in Kaggle's schema or a glob go through
    `pipeline.load_images`. Only one batch is in memory at a time, whatever the number of images.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if _is_zip(source):
        for _, images in image_zip.iterate_zip_images(
            source, expected_size=image_size, batch_size=batch_size
        ):
            yield images.astype(np.float32)
        return
    from monet_gan.data import pipeline

    dataset = pipeline.load_images(os.fspath(source), image_size=image_size)
    # pipeline.load_images scales to [-1, 1]; the feature networks take 0-255.
    dataset = dataset.batch(batch_size).map(
        lambda images: (images + 1.0) * 127.5, num_parallel_calls=tf.data.AUTOTUNE
    )
    try:
        for images in dataset.prefetch(1).as_numpy_iterator():
            yield images
    except tf.errors.OpError as error:
        # A corrupt image or record surfaces here, deep in tf.data; name the source instead.
        message = error.message.strip().splitlines()[0] if error.message.strip() else ""
        raise UserError(f"cannot read the images of {source}: {message}") from None


def extract_features(source, network, batch_size=50, description=None, progress=True, meter=None):
    """Features of every image of a source (zip, folder, TFRecords, glob), batch by batch.

    A `meter` (anything with `update(images)`, e.g. a checkerboard.CheckerboardMeter) sees every
    batch of 0-255 images too, so that a second measure needs no second read of the source.

    Returns:
      float32 (N, network.dimension) features.
    """
    total = count_source_images(source)
    chunks = []
    with tqdm.tqdm(
        total=total, unit="img", desc=description or str(source), disable=not progress,
        leave=False,
    ) as progress_bar:
        for images in image_batches(source, batch_size=batch_size):
            chunks.append(network(images))
            if meter is not None:
                meter.update(images)
            progress_bar.update(len(images))
    if not chunks:
        return np.zeros((0, network.dimension), np.float32)
    return np.concatenate(chunks)
