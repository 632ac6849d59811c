"""The two custom layers the networks need: instance normalization and reflection padding.

tensorflow-addons, where Kaggle's CycleGAN tutorial took `InstanceNormalization` from, reached
end of life and does not work with Keras 3, so the layer is reimplemented here with the same
math, defaults, weight shapes and weight order. Weights saved from a tfa-based model of the
same architecture therefore load unchanged.

Both layers are written with `keras.ops`, so they run unchanged on the TensorFlow and the JAX
backends. The one exception is a TensorFlow-only fast path of the instance normalization (see
the class docstring), taken only when the backend is TensorFlow.
"""

import keras
from keras import ops

# The smallest epsilon the fused batch-normalization kernels accept (cuDNN's limit).
FUSED_MIN_EPSILON = 1.001e-5
# The largest batch normalized by the fused kernel. It takes one op per sample, so past a few
# dozen the graph grows for no further gain; larger batches take the general path.
MAX_FUSED_BATCH = 64


@keras.saving.register_keras_serializable(package="monet_gan")
class InstanceNormalization(keras.layers.Layer):
    """Normalizes each channel of each sample over its spatial axes.

    For every sample and channel the layer subtracts the mean and divides by
    `sqrt(variance + epsilon)` over all axes except the batch axis and `axis`, then applies a
    learned per-channel scale `gamma` and offset `beta`. This is the computation of
    tensorflow-addons' `InstanceNormalization` (a `GroupNormalization` with `groups=-1`) and of
    `keras.layers.GroupNormalization(groups=-1, epsilon=1e-3)`.

    The statistics are computed in float32 even when the layer runs under a mixed-precision
    policy, because a mean and variance over 256 x 256 values in bfloat16 (8 bits of
    mantissa) would be too coarse to normalize with. The output is cast back to the layer's
    compute dtype so the next layer sees the dtype it expects.

    On the TensorFlow backend, when the batch size is known (always inside a compiled training
    or painting step, whose batches have a fixed shape), each sample is normalized by the fused batch-normalization
    kernel in training mode, which on a single sample is exactly instance normalization. It
    reads the activations twice instead of the seven passes of separate mean, variance and
    affine ops, and keeps its statistics in float32 for bfloat16 inputs: on a CPU the ResNet
    generator paints 1.17x faster with it (bench/instance_norm.py). Symbolic calls with an
    unknown batch size, batches over MAX_FUSED_BATCH, float64 inputs, channels-first layouts
    and every other backend take the general `keras.ops` path, which computes the same values
    and gradients (tests/layers_test.py checks both).

    Args:
        axis: the channel axis; -1 for channels-last images.
        epsilon: added to the variance before the square root, as in tfa (1e-3).
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned scale `gamma`.
        beta_initializer, gamma_initializer: initializers of the two weights (Kaggle's
            tutorial uses `keras.initializers.RandomNormal(0.0, 0.02)` for gamma).
        beta_regularizer, gamma_regularizer: optional weight regularizers.
        beta_constraint, gamma_constraint: optional weight constraints.
        **kwargs: base layer arguments such as `name` and `dtype`.
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(f"axis must be an integer, got axis={axis!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got epsilon={epsilon!r}")
        self.axis = axis
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.supports_masking = True
        # Inputs are not cast down to the compute dtype on entry: the layer casts them up to
        # float32 itself, and a float32 input should keep its precision.
        self.autocast = False

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 3:
            raise ValueError(
                "InstanceNormalization needs inputs with a batch axis, at least one spatial "
                f"axis and a channel axis; got shape {tuple(input_shape)}"
            )
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"axis {self.axis} is the batch axis of shape {tuple(input_shape)}")
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(
                f"the channel axis {self.axis} of shape {tuple(input_shape)} must be known"
            )
        self._channel_axis = axis
        self._reduction_axes = [i for i in range(1, rank) if i != axis]
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={axis: channels})
        # Gamma is created before beta, the order tfa used, so that weight lists saved from a
        # tfa model line up one to one with this layer's.
        self.gamma = None
        self.beta = None
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma",
                shape=(channels,),
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                autocast=False,
            )
        if self.center:
            self.beta = self.add_weight(
                name="beta",
                shape=(channels,),
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                autocast=False,
            )

    def call(self, inputs):
        if self._can_fuse(inputs):
            return self._fused_call(inputs)
        return self._general_call(inputs)

    def _general_call(self, inputs):
        """Separate moments and affine ops, on any backend."""
        # Half-precision inputs are normalized in float32; a float64 model stays in float64.
        statistics_dtype = "float64" if self.compute_dtype == "float64" else "float32"
        inputs = ops.cast(inputs, statistics_dtype)
        mean, variance = ops.moments(inputs, axes=self._reduction_axes, keepdims=True)
        broadcast_shape = [1] * len(inputs.shape)
        broadcast_shape[self._channel_axis] = inputs.shape[self._channel_axis]
        # One multiplier and one offset per channel and sample, as tf.nn.batch_normalization
        # folds them, so the big tensor is touched by one multiply and one add.
        multiplier = ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            multiplier = multiplier * ops.reshape(ops.cast(self.gamma, statistics_dtype), broadcast_shape)
        offset = -mean * multiplier
        if self.beta is not None:
            offset = offset + ops.reshape(ops.cast(self.beta, statistics_dtype), broadcast_shape)
        return ops.cast(inputs * multiplier + offset, self.compute_dtype)

    def _can_fuse(self, inputs):
        return (
            keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self._channel_axis == 3
            and inputs.shape[0] is not None
            and 0 < inputs.shape[0] <= MAX_FUSED_BATCH
            and keras.backend.standardize_dtype(inputs.dtype) in ("float32", "bfloat16")
            and self.compute_dtype in ("float32", "bfloat16")
            # The fused kernels refuse an epsilon below cuDNN's minimum.
            and self.epsilon >= FUSED_MIN_EPSILON
        )

    def _fused_call(self, inputs):
        """TensorFlow only: the fused batch-normalization kernel, one sample at a time."""
        # Imported here so that the JAX backend never needs TensorFlow to build or run models.
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.gamma is not None else tf.ones((channels,))
        beta = self.beta if self.beta is not None else tf.zeros((channels,))
        gamma, beta = tf.cast(gamma, tf.float32), tf.cast(beta, tf.float32)
        # Splitting along the batch axis gives views of the input, not copies.
        samples = tf.split(inputs, inputs.shape[0], axis=0)
        # In training mode the kernel computes the statistics itself and ignores these; one
        # shared empty tensor keeps the graph small (a graph function is built per batch size).
        no_statistics = tf.zeros((0,), tf.float32)
        outputs = [
            tf.raw_ops.FusedBatchNormV3(
                x=sample, scale=gamma, offset=beta, mean=no_statistics, variance=no_statistics,
                epsilon=self.epsilon, is_training=True,
            ).y
            for sample in samples
        ]
        return tf.cast(tf.concat(outputs, axis=0), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    @classmethod
    def from_config(cls, config):
        # Configs written by tfa carry groups=-1 (instance norm as a group norm); dropping it
        # lets tfa-era model files load with this class as the custom object.
        config = dict(config)
        if config.get("groups", -1) == -1:
            config.pop("groups", None)
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "axis": self.axis,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": keras.constraints.serialize(self.beta_constraint),
                "gamma_constraint": keras.constraints.serialize(self.gamma_constraint),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="monet_gan")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads the height and width of channels-last images by mirroring them at the border.

    The CycleGAN ResNet generator pads this way instead of with zeros so that its 7x7 and 3x3
    convolutions see image-like content at the border, which avoids dark edge artifacts.

    Args:
        padding: an int for the same padding on all four sides, or `(rows, columns)`: rows
            added at the top and at the bottom, columns added at the left and at the right.
            Each must be smaller than the padded dimension (a reflection cannot repeat pixels).
        **kwargs: base layer arguments such as `name` and `dtype`.
    """

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int) and not isinstance(padding, bool):
            padding = (padding, padding)
        valid = (
            isinstance(padding, (tuple, list))
            and len(padding) == 2
            and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in padding)
        )
        if not valid:
            raise ValueError(
                "padding must be a non-negative int or a pair (rows, columns) of them, "
                f"got padding={padding!r}"
            )
        self.padding = tuple(padding)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        rows, columns = self.padding
        # Mirrored borders are concatenated rather than made by a reflect-mode pad: the
        # same values, but concatenation copies whole rows at once and measured a third faster.
        return _reflect(_reflect(inputs, rows, axis=1), columns, axis=2)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        rows, columns = self.padding
        height = None if height is None else height + 2 * rows
        width = None if width is None else width + 2 * columns
        return (batch, height, width, channels)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config


def _reflect(inputs, padding, axis):
    """Mirrors `padding` rows (axis 1) or columns (axis 2) at both ends, edges not repeated."""
    if padding == 0:
        return inputs
    # Negative slice bounds count from the end, so this also works when the size is unknown.
    before = ops.flip(_slice(inputs, 1, padding + 1, axis), axis=axis)
    after = ops.flip(_slice(inputs, -padding - 1, -1, axis), axis=axis)
    return ops.concatenate([before, inputs, after], axis=axis)


def _slice(inputs, start, stop, axis):
    return inputs[:, start:stop] if axis == 1 else inputs[:, :, start:stop]
