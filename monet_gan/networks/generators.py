"""Generators: image in [-1, 1] -> image in [-1, 1], chosen by name with `build_generator`.

Two architectures:
  - "unet": the U-Net of Kaggle's Monet CycleGAN tutorial (pix2pix's generator with instance
    normalization): stride-2 4x4 convolutions down to 1x1, transposed convolutions back up,
    with skip connections. 54,414,979 parameters at 256 px with 64 filters.
  - "resnet": the generator of the CycleGAN paper: c7s1-64, d128, d256, R256 x N, u128, u64,
    c7s1-3, with reflection padding and instance normalization. 11,383,427 parameters with
    9 residual blocks at 64 filters.

Both upsample with stride-2 transposed convolutions by default, as the tutorial and the paper do,
or with resize-convolutions (`upsampling="nearest"` or `"bilinear"`: a resize by 2, then a
stride-1 convolution), which cannot paint the checkerboard that transposed convolutions leave
where their windows overlap unevenly (Odena, Dumoulin and Olah, 2016); see metrics/checkerboard.py.

Convolutions followed by a normalization have no bias, since the normalization's beta takes
its place. Every output passes through a float32 tanh so that mixed-precision training
(bfloat16 on TPU) still returns float32 images.
"""

import math

import keras

from monet_gan.networks import conventions
from monet_gan.networks import initializers
from monet_gan.networks import layers
from monet_gan.networks import upsampling as upsampling_lib
from monet_gan.networks.upsampling import UPSAMPLINGS  # noqa: F401  (part of this module's interface)

ARCHITECTURES = ("unet", "resnet")



# ---------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------


def apply_downsample_block(
    x, filters, name, kernel_size=4, normalize=True, activation="leaky_relu", norm_gamma_init="ones"
):
    """Halves the height and width: stride-2 convolution, instance norm, activation.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: number of output channels.
        name: prefix of the block's layer names (`<name>_conv`, `<name>_norm`, ...).
        kernel_size: convolution size; 4 in the U-Net, 3 in the ResNet generator.
        normalize: whether to apply instance normalization; off for the U-Net's first block.
        activation: "leaky_relu" (slope 0.2, U-Net) or "relu" (ResNet generator).
        norm_gamma_init: "ones" or "tutorial" (see initializers.py).
    """
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=2,
        padding="same",
        # No bias even without a normalization, as in the tutorial (its parameter count).
        use_bias=False,
        kernel_initializer=conventions.kernel_initializer(),
        name=f"{name}_conv",
    )(x)
    if normalize:
        x = conventions.instance_norm(f"{name}_norm", norm_gamma_init)(x)
    if activation == "leaky_relu":
        # The papers' slope of 0.2; Kaggle's tutorial left Keras' default of 0.3.
        return keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_leaky_relu")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def apply_upsample_block(x, filters, name, kernel_size=4, dropout_rate=0.0, norm_gamma_init="ones",
                         upsampling="transposed"):
    """Doubles the height and width: an upsampling convolution, instance norm, ReLU.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: number of output channels.
        name: prefix of the block's layer names (`<name>_conv`, `<name>_norm`, ...).
        kernel_size: transposed convolution size; 4 in the U-Net, 3 in the ResNet generator.
        dropout_rate: fraction of activations dropped during training after the
            normalization; 0 adds no Dropout layer at all.
        norm_gamma_init: "ones" or "tutorial" (see initializers.py).
        upsampling: one of UPSAMPLINGS (see `apply_upsampling_convolution`).
    """
    x = upsampling_lib.apply_upsampling_convolution(x, filters, name, kernel_size, upsampling)
    x = conventions.instance_norm(f"{name}_norm", norm_gamma_init)(x)
    if dropout_rate > 0:
        x = keras.layers.Dropout(dropout_rate, name=f"{name}_dropout")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def apply_residual_block(x, filters, name, norm_gamma_init="ones"):
    """Two reflection-padded 3x3 convolutions with instance norm, added to the input.

    Args:
        x: input tensor (batch, height, width, filters).
        filters: number of channels; must equal the input's so the sum is defined.
        name: prefix of the block's layer names (`<name>_conv_1`, `<name>_norm_2`, ...).
        norm_gamma_init: "ones" or "tutorial" (see initializers.py).
    """
    shortcut = x
    for index in (1, 2):
        x = layers.ReflectionPadding2D(1, name=f"{name}_pad_{index}")(x)
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="valid",
            use_bias=False,
            kernel_initializer=conventions.kernel_initializer(),
            name=f"{name}_conv_{index}",
        )(x)
        x = conventions.instance_norm(f"{name}_norm_{index}", norm_gamma_init)(x)
        if index == 1:
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])


def apply_output_block(x, name, kernel_size, upsampling=None):
    """Maps features to 3 channels and squashes them into [-1, 1] with a float32 tanh.

    Args:
        x: input tensor (batch, height, width, channels).
        name: prefix of the block's layer names (`<name>_conv`, `<name>_tanh`).
        kernel_size: convolution size (4 for the U-Net's last upsampling, 7 for c7s1-3).
        upsampling: one of UPSAMPLINGS for the U-Net, whose last block also doubles the size;
            None for the ResNet generator's reflection-padded stride-1 convolution.
    """
    if upsampling is not None:
        x = upsampling_lib.apply_upsampling_convolution(x, 3, name, kernel_size, upsampling, use_bias=True)
    else:
        x = layers.ReflectionPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        x = keras.layers.Conv2D(
            3, kernel_size, padding="valid",
            kernel_initializer=conventions.kernel_initializer(), name=f"{name}_conv",
        )(x)
    # The output layer is float32 even under a mixed policy, so losses and images are exact.
    return keras.layers.Activation("tanh", dtype="float32", name=f"{name}_tanh")(x)


# ---------------------------------------------------------------------------------------------
# Functional models
# ---------------------------------------------------------------------------------------------


def unet_generator(
    image_size=256, filters=64, dropout_rate=0.5, name="unet_generator", norm_gamma_init="ones",
    upsampling="transposed",
):
    """Kaggle's tutorial U-Net: log2(image_size) downsamplings to 1x1 and back up.

    Downsampling filters are f, 2f, 4f, 8f, 8f, ... (capped at 8f); each upsampling block
    mirrors one downsampling block and is concatenated with its output (the skip connection).
    The first three upsampling blocks apply dropout, as pix2pix does.

    Args:
        image_size: height and width of the square input; a power of two >= 8.
        filters: channels of the first block (64 in the tutorial).
        dropout_rate: dropout in the first three upsampling blocks; 0 disables it.
        name: model name.
        norm_gamma_init: "ones" (gamma 1: every norm starts as a true normalizer) or
            "tutorial" (N(0, 0.02), Kaggle's tutorial); see initializers.py.
        upsampling: one of UPSAMPLINGS: "transposed" (the tutorial's) or a resize-convolution.
    """
    conventions.check_positive_int(image_size, "image_size")
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(
            f"the U-Net generator needs image_size to be a power of two >= 8 (it halves the "
            f"image down to 1x1), got image_size={image_size}"
        )
    conventions.check_positive_int(filters, "filters")
    conventions.check_dropout_rate(dropout_rate)
    conventions.check_name(name)
    initializers.check_norm_gamma_init(norm_gamma_init)
    upsampling_lib.check_upsampling(upsampling)

    depth = int(math.log2(image_size))
    down_filters = [filters * min(2**index, 8) for index in range(depth)]

    inputs = keras.Input(shape=(image_size, image_size, 3), name="input_image")
    x = inputs
    skips = []
    for index, block_filters in enumerate(down_filters):
        x = apply_downsample_block(
            x, block_filters, name=f"down_{index + 1}", normalize=index > 0,
            norm_gamma_init=norm_gamma_init,
        )
        skips.append(x)
    # The innermost output is the bottleneck, not a skip; the others are used deepest first.
    for index, (block_filters, skip) in enumerate(zip(down_filters[-2::-1], skips[-2::-1])):
        x = apply_upsample_block(
            x, block_filters, name=f"up_{index + 1}",
            dropout_rate=dropout_rate if index < 3 else 0.0, norm_gamma_init=norm_gamma_init,
            upsampling=upsampling,
        )
        x = keras.layers.Concatenate(name=f"up_{index + 1}_concat")([x, skip])
    outputs = apply_output_block(x, name="output", kernel_size=4, upsampling=upsampling)
    return keras.Model(inputs, outputs, name=name)


def resnet_generator(
    image_size=256, filters=64, num_residual_blocks=9, name="resnet_generator", norm_gamma_init="ones",
    upsampling="transposed",
):
    """The CycleGAN paper's generator: c7s1-f, d2f, d4f, R4f x N, u2f, uf, c7s1-3.

    Args:
        image_size: height and width of the square input; divisible by 4 (two downsamplings).
        filters: channels of the first convolution (64 in the paper).
        num_residual_blocks: residual blocks at the lowest resolution (paper: 6 for 128 px,
            9 for 256 px).
        name: model name.
        norm_gamma_init: "ones" (gamma 1: every norm starts as a true normalizer) or
            "tutorial" (N(0, 0.02), Kaggle's tutorial); see initializers.py.
        upsampling: one of UPSAMPLINGS: "transposed" (the paper's) or a resize-convolution.
    """
    conventions.check_positive_int(image_size, "image_size")
    if image_size % 4:
        raise ValueError(
            f"the ResNet generator needs image_size divisible by 4, got image_size={image_size}"
        )
    conventions.check_positive_int(filters, "filters")
    conventions.check_positive_int(num_residual_blocks, "num_residual_blocks")
    conventions.check_name(name)
    initializers.check_norm_gamma_init(norm_gamma_init)
    upsampling_lib.check_upsampling(upsampling)

    inputs = keras.Input(shape=(image_size, image_size, 3), name="input_image")
    x = layers.ReflectionPadding2D(3, name="stem_pad")(inputs)
    x = keras.layers.Conv2D(
        filters, 7, padding="valid", use_bias=False,
        kernel_initializer=conventions.kernel_initializer(), name="stem_conv",
    )(x)
    x = conventions.instance_norm("stem_norm", norm_gamma_init)(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for index in (1, 2):
        x = apply_downsample_block(
            x, filters * 2**index, name=f"down_{index}", kernel_size=3, activation="relu",
            norm_gamma_init=norm_gamma_init,
        )
    for index in range(num_residual_blocks):
        x = apply_residual_block(
            x, filters * 4, name=f"res_{index + 1}", norm_gamma_init=norm_gamma_init
        )
    for index in (1, 2):
        x = apply_upsample_block(
            x, filters * 2 ** (2 - index), name=f"up_{index}", kernel_size=3,
            norm_gamma_init=norm_gamma_init, upsampling=upsampling,
        )
    outputs = apply_output_block(x, name="output", kernel_size=7)
    return keras.Model(inputs, outputs, name=name)


def build_generator(
    architecture="unet",
    image_size=256,
    filters=64,
    num_residual_blocks=9,
    dropout_rate=0.5,
    name="generator",
    norm_gamma_init="ones",
    upsampling="transposed",
):
    """Builds the generator named by `architecture`: "unet" or "resnet".

    Input and output are (None, image_size, image_size, 3) images in [-1, 1]; the output is
    float32 whatever the global dtype policy. Arguments that the chosen architecture does
    not use (`num_residual_blocks` for "unet", `dropout_rate` for "resnet") are still checked,
    so a typo in a config fails early whichever generator it selects.

    Args:
        architecture: "unet" (Kaggle's tutorial) or "resnet" (the CycleGAN paper).
        image_size: height and width of the square images.
        filters: channels of the first convolution.
        num_residual_blocks: residual blocks of the "resnet" generator.
        dropout_rate: dropout of the "unet" generator's first three upsampling blocks.
        name: model name.
        norm_gamma_init: "ones" (the default: gamma 1, beta 0, so every norm starts as a true
            normalizer and the untrained generator's output has contrast) or "tutorial"
            (N(0, 0.02) gamma, Kaggle's tutorial); see initializers.py.
        upsampling: "transposed" (the default: stride-2 transposed convolutions, as the tutorial
            and the paper) or "nearest" / "bilinear" (resize-convolution); see UPSAMPLINGS.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown generator architecture {architecture!r}; choose one of "
            + ", ".join(repr(choice) for choice in ARCHITECTURES)
        )
    conventions.check_positive_int(num_residual_blocks, "num_residual_blocks")
    conventions.check_dropout_rate(dropout_rate)
    initializers.check_norm_gamma_init(norm_gamma_init)
    upsampling_lib.check_upsampling(upsampling)
    if architecture == "unet":
        return unet_generator(
            image_size, filters, dropout_rate, name=name, norm_gamma_init=norm_gamma_init,
            upsampling=upsampling,
        )
    return resnet_generator(
        image_size, filters, num_residual_blocks, name=name, norm_gamma_init=norm_gamma_init,
        upsampling=upsampling,
    )


def build_from_config(config, name):
    """Builds the generator a training config describes (a TrainConfig or anything with its fields).

    Training, loading a run's checkpoint and timing the notebook's generation all build the
    generator this way, so a run's weights always fit the network they are restored into.

    Args:
        config: an object with the fields `generator`, `image_size`, `generator_filters`,
            `num_residual_blocks`, `dropout_rate`, `norm_gamma_init` and `upsampling`, such as
            `training.config.TrainConfig`.
        name: model name, e.g. "photo_to_monet".
    """
    return build_generator(
        config.generator,
        image_size=config.image_size,
        filters=config.generator_filters,
        num_residual_blocks=config.num_residual_blocks,
        dropout_rate=config.dropout_rate,
        name=name,
        norm_gamma_init=config.norm_gamma_init,
        upsampling=config.upsampling,
    )
