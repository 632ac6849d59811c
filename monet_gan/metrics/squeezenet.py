"""SqueezeNet v1.1 without its classifier: the feature network of the local proxy score.

InceptionV3 weights cannot be downloaded on offline machines. SqueezeNet v1.1 (Iandola et al.,
2016) with ImageNet weights from a Keras-1 HDF5 file gives 512 average-pooled features at 227 px
for a fraction of Inception's cost. Its FID/KID/MiFID are a proxy, not MiFID: they rank models
roughly and are on another scale than the leaderboard. features.py wraps it for extraction.
"""

import os

import h5py
import keras
import numpy as np

from monet_gan.errors import UserError

SQUEEZENET_WEIGHTS_FILE = "squeezenet_v1.1_imagenet_notop.h5"
SQUEEZENET_INPUT_SIZE = 227
# Caffe's ImageNet channel means, in BGR order, which the SqueezeNet weights were trained with.
SQUEEZENET_BGR_MEANS = (103.939, 116.779, 123.68)
# (name, squeeze filters, expand filters per branch) of SqueezeNet v1.1's fire modules; a max
# pool follows conv1, fire3 and fire5.
SQUEEZENET_FIRE_MODULES = (
    ("fire2", 16, 64), ("fire3", 16, 64),
    ("fire4", 32, 128), ("fire5", 32, 128),
    ("fire6", 48, 192), ("fire7", 48, 192), ("fire8", 64, 256), ("fire9", 64, 256),
)
SQUEEZENET_POOL_AFTER = {"conv1": "pool1", "fire3": "pool3", "fire5": "pool5"}


def preprocess(images):
    """Caffe's convention for 0-255 RGB images: BGR channel order, channel means subtracted."""
    # Caffe convention: BGR channel order, channel means subtracted, no scaling.
    return images[..., ::-1] - np.asarray(SQUEEZENET_BGR_MEANS, dtype=np.float32)


def apply_fire_module(x, squeeze_filters, expand_filters, name):
    """A SqueezeNet fire module: a 1x1 squeeze, then 1x1 and 3x3 expands, concatenated.

    Args:
      x: the input tensor.
      squeeze_filters: filters of the 1x1 squeeze convolution.
      expand_filters: filters of each expand convolution (the output has twice as many).
      name: the module's name prefix, e.g. "fire2".
    """
    squeezed = keras.layers.Conv2D(
        squeeze_filters, 1, activation="relu", name=f"{name}_squeeze1x1"
    )(x)
    expanded_1x1 = keras.layers.Conv2D(
        expand_filters, 1, activation="relu", name=f"{name}_expand1x1"
    )(squeezed)
    expanded_3x3 = keras.layers.Conv2D(
        expand_filters, 3, padding="same", activation="relu", name=f"{name}_expand3x3"
    )(squeezed)
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([expanded_1x1, expanded_3x3])


def build_squeezenet(weights=None):
    """SqueezeNet v1.1 without its classifier, average-pooled to 512 features.

    Args:
      weights: a path to squeezenet_v1.1_imagenet_notop.h5 (Keras-1 HDF5 layout), or None for a
        random initialisation (tests only).
    """
    inputs = keras.Input((SQUEEZENET_INPUT_SIZE, SQUEEZENET_INPUT_SIZE, 3), name="image")
    x = keras.layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for name, squeeze_filters, expand_filters in SQUEEZENET_FIRE_MODULES:
        x = apply_fire_module(x, squeeze_filters, expand_filters, name=name)
        if name in SQUEEZENET_POOL_AFTER:
            x = keras.layers.MaxPooling2D(3, strides=2, name=SQUEEZENET_POOL_AFTER[name])(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="average_pool")(x)
    model = keras.Model(inputs, outputs, name="squeezenet_v1_1")
    if weights is not None:
        load_squeezenet_weights(model, weights)
    return model


def load_squeezenet_weights(model, path):
    """Loads the Keras-1 HDF5 SqueezeNet weights: group "fire2/squeeze1x1" -> layer
    "fire2_squeeze1x1", its dataset named "uniform*" -> kernel (HWIO), "*_b" -> bias."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"SqueezeNet weights file not found: {path}")
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    try:
        with h5py.File(path, "r") as weights_file:
            for layer in convolutions:
                group_name = layer.name.replace("_", "/", 1)
                if group_name not in weights_file:
                    raise UserError(f"{path} has no weights for layer {group_name!r}")
                arrays = {}
                weights_file[group_name].visititems(
                    lambda name, item: arrays.__setitem__(name.rsplit("/", 1)[-1], item[()])
                    if isinstance(item, h5py.Dataset) else None
                )
                kernels = [value for key, value in arrays.items() if key.startswith("uniform")]
                biases = [value for key, value in arrays.items() if key.endswith("_b")]
                kernel_shape = tuple(layer.kernel.shape)
                if len(kernels) != 1 or len(biases) != 1 or kernels[0].shape != kernel_shape:
                    raise UserError(
                        f"{path}: the weights of layer {group_name!r} do not fit SqueezeNet v1.1 "
                        f"(expected one kernel of shape {kernel_shape} and one bias)"
                    )
                layer.set_weights([kernels[0], biases[0]])
    except OSError as error:
        raise UserError(f"{path} is not a readable HDF5 weights file ({error})") from None
