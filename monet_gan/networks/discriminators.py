"""The 70x70 PatchGAN discriminator: one real/fake logit per overlapping image patch.

Kaggle's Monet CycleGAN tutorial builds it as C64-C128-C256 (4x4, stride 2), then C512
(4x4, stride 1 after a one-pixel zero padding) and a last 4x4 convolution to one channel,
again after zero padding. Each output logit sees a 70x70 receptive field, so the network
judges texture and style rather than the whole composition, with few parameters:
2,765,569 at 64 filters (independent of image size), and a 30x30x1 map for 256 px inputs.
"""

import keras

from monet_gan.networks import conventions
from monet_gan.networks import initializers

# ---------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------


def apply_patch_block(x, filters, strides, name, normalize=True, norm_gamma_init="ones"):
    """A 4x4 convolution, optional instance norm and LeakyReLU(0.2).

    Stride 2 uses "same" padding and halves the size; stride 1 first zero-pads one pixel on
    each side and then convolves without padding, which shrinks the map by one (the
    tutorial's 32 -> 34 -> 31 step).

    Args:
        x: input tensor (batch, height, width, channels).
        filters: number of output channels.
        strides: 2 for the downsampling blocks, 1 for the last feature block.
        name: prefix of the block's layer names (`<name>_conv`, `<name>_norm`, ...).
        normalize: whether to apply instance normalization; off for the first block.
        norm_gamma_init: "ones" or "tutorial" (see initializers.py).
    """
    if strides == 1:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        4,
        strides=strides,
        padding="same" if strides == 2 else "valid",
        # No bias: the normalization's beta replaces it (the tutorial drops it on the first
        # block as well, which its parameter count reflects).
        use_bias=False,
        kernel_initializer=conventions.kernel_initializer(),
        name=f"{name}_conv",
    )(x)
    if normalize:
        x = conventions.instance_norm(f"{name}_norm", norm_gamma_init)(x)
    # The papers' slope of 0.2; Kaggle's tutorial left Keras' default of 0.3.
    return keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_leaky_relu")(x)


# ---------------------------------------------------------------------------------------------
# Functional model
# ---------------------------------------------------------------------------------------------


def build_discriminator(image_size=256, filters=64, name="discriminator", norm_gamma_init="ones"):
    """Builds the PatchGAN discriminator for square images of `image_size` pixels.

    The output is (None, s, s, 1) float32 logits with s = image_size / 8 - 2 (30 for 256 px);
    apply a sigmoid, or a loss `from_logits=True`, outside the model.

    Args:
        image_size: height and width of the square input; >= 32 and divisible by 8.
        filters: channels of the first block; the others use 2x, 4x and 8x this.
        name: model name.
        norm_gamma_init: "ones" (gamma 1, beta 0: every norm starts as a true normalizer, as
            in the CycleGAN reference) or "tutorial" (N(0, 0.02) gamma); see initializers.py.
    """
    conventions.check_positive_int(image_size, "image_size")
    if image_size < 32 or image_size % 8:
        raise ValueError(
            "the PatchGAN discriminator needs image_size >= 32 and divisible by 8 (three "
            f"halvings and two 4x4 valid convolutions), got image_size={image_size}"
        )
    conventions.check_positive_int(filters, "filters")
    conventions.check_name(name)
    initializers.check_norm_gamma_init(norm_gamma_init)

    inputs = keras.Input(shape=(image_size, image_size, 3), name="input_image")
    x = apply_patch_block(inputs, filters, strides=2, name="down_1", normalize=False)
    x = apply_patch_block(x, filters * 2, strides=2, name="down_2", norm_gamma_init=norm_gamma_init)
    x = apply_patch_block(x, filters * 4, strides=2, name="down_3", norm_gamma_init=norm_gamma_init)
    x = apply_patch_block(
        x, filters * 8, strides=1, name="features", norm_gamma_init=norm_gamma_init
    )
    x = keras.layers.ZeroPadding2D(1, name="output_pad")(x)
    x = keras.layers.Conv2D(
        1, 4, padding="valid", kernel_initializer=conventions.kernel_initializer(), name="output_conv"
    )(x)
    # A float32 identity keeps the logits float32 under a mixed-precision policy.
    outputs = keras.layers.Activation("linear", dtype="float32", name="output_logits")(x)
    return keras.Model(inputs, outputs, name=name)
