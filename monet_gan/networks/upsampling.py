"""How the generators double their resolution: transposed convolutions or resize-convolution.

A stride-2 transposed convolution (the tutorial's and the paper's) overlaps its windows unevenly
and can paint a checkerboard (Odena, Dumoulin and Olah, 2016). Resize-convolution resizes by 2
first, then applies a stride-1 convolution, which cannot. docs/upsampling.md has the comparison.
"""

import keras

from monet_gan.networks import conventions
from monet_gan.networks import layers

# "transposed": stride-2 transposed convolutions (the tutorial's, and what its weights need);
# "nearest" / "bilinear": resize-convolution with that interpolation.
UPSAMPLINGS = ("transposed", "nearest", "bilinear")


def check_upsampling(upsampling):
    """Raises ValueError unless `upsampling` names one of UPSAMPLINGS."""
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got upsampling={upsampling!r}")


def apply_upsampling_convolution(x, filters, name, kernel_size, upsampling, use_bias=False):
    """Doubles the height and width with learned weights, as `upsampling` says.

    "transposed" is one stride-2 transposed convolution. "nearest" and "bilinear" resize by 2
    first, then apply a reflection-padded stride-1 convolution of odd size (kernel_size, or one
    less when it is even, so that the window is centred on the resized grid).

    Args:
        x: input tensor (batch, height, width, channels).
        filters: number of output channels.
        name: prefix of the layer names (`<name>_conv`, and `<name>_resize`, `<name>_pad`).
        kernel_size: the transposed convolution's size.
        upsampling: one of UPSAMPLINGS.
        use_bias: whether the convolution has a bias (not before a normalization).
    """
    if upsampling == "transposed":
        return keras.layers.Conv2DTranspose(
            filters, kernel_size, strides=2, padding="same", use_bias=use_bias,
            kernel_initializer=conventions.kernel_initializer(), name=f"{name}_conv",
        )(x)
    x = keras.layers.UpSampling2D(2, interpolation=upsampling, name=f"{name}_resize")(x)
    size = kernel_size if kernel_size % 2 else kernel_size - 1
    x = layers.ReflectionPadding2D(size // 2, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(
        filters, size, padding="valid", use_bias=use_bias,
        kernel_initializer=conventions.kernel_initializer(), name=f"{name}_conv",
    )(x)
