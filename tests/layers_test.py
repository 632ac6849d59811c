"""InstanceNormalization and ReflectionPadding2D: math, tfa compatibility, saving, precision.

Backend-agnostic: also run under KERAS_BACKEND=jax, except the fused path's test (TensorFlow's
kernel, so TensorFlow only).
"""

import h5py
import keras
import numpy as np
import pytest
from conftest import input_gradient
from conftest import tensorflow_only
from keras import ops

from monet_gan.networks import layers

pytestmark = pytest.mark.backend_agnostic


def instance_norm_reference(x, gamma, beta, epsilon=1e-3):
    """The textbook formula in float64: per sample and channel, over height and width."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=(1, 2), keepdims=True)
    variance = x.var(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def random_images(shape, seed=0):
    """Images whose channels have different offsets and spreads, so each needs its own stats."""
    rng = np.random.default_rng(seed)
    channels = shape[-1]
    offsets = rng.uniform(-5, 5, size=channels)
    spreads = rng.uniform(0.1, 3, size=channels)
    return (rng.normal(size=shape) * spreads + offsets).astype("float32")


def set_random_gamma_beta(layer, seed=1):
    rng = np.random.default_rng(seed)
    channels = layer.gamma.shape[0]
    gamma = rng.uniform(0.5, 2, size=channels).astype("float32")
    beta = rng.normal(size=channels).astype("float32")
    layer.set_weights([gamma, beta])
    return gamma, beta


def test_instance_norm_matches_numpy_formula():
    x = random_images((2, 6, 5, 4))
    layer = layers.InstanceNormalization(name="norm")
    layer.build(x.shape)
    gamma, beta = set_random_gamma_beta(layer)
    outputs = layer(x)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    np.testing.assert_allclose(outputs, instance_norm_reference(x, gamma, beta), atol=1e-5)


def test_instance_norm_defaults_and_weight_order():
    layer = layers.InstanceNormalization(name="norm")
    layer.build((None, 4, 4, 3))
    # tfa's defaults and its variable order: gamma first, then beta, both of shape (C,).
    assert layer.epsilon == 1e-3
    assert [weight.name for weight in layer.weights] == ["gamma", "beta"]
    assert [tuple(weight.shape) for weight in layer.weights] == [(3,), (3,)]
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.gamma), np.ones(3))
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.beta), np.zeros(3))
    without_affine = layers.InstanceNormalization(center=False, scale=False, name="plain")
    without_affine.build((None, 4, 4, 3))
    assert without_affine.weights == []


def test_instance_norm_equals_keras_group_normalization():
    x = random_images((2, 8, 8, 6), seed=3)
    ours = layers.InstanceNormalization(name="ours")
    group_norm = keras.layers.GroupNormalization(groups=-1, epsilon=1e-3, name="reference")
    ours.build(x.shape)
    group_norm.build(x.shape)
    group_norm.set_weights(set_random_gamma_beta(ours))
    np.testing.assert_allclose(ours(x), group_norm(x), atol=1e-5)


def small_model(make_norm):
    """Conv-norm-conv-norm; the same layer names whatever normalization layer is used."""
    inputs = keras.Input(shape=(8, 8, 3), name="input_image")
    x = keras.layers.Conv2D(4, 3, name="conv_1")(inputs)
    x = make_norm("norm_1")(x)
    x = keras.layers.Conv2D(5, 3, name="conv_2")(x)
    x = make_norm("norm_2")(x)
    return keras.Model(inputs, x, name="small")


def write_tf2_keras_weights(model, path):
    """Writes weights in the layout of tf.keras 2's `model.save_weights("x.h5")`.

    That is the format of weights saved from tfa-era notebooks: one group per layer, in model
    order, each with its variables listed as "<layer>/<variable>:0" in creation order.
    """
    with h5py.File(path, "w") as weights_file:
        weights_file.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        weights_file.attrs["backend"] = b"tensorflow"
        weights_file.attrs["keras_version"] = b"2.15.0"
        for layer in model.layers:
            group = weights_file.create_group(layer.name)
            names = [f"{layer.name}/{weight.name}:0".encode() for weight in layer.weights]
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights):
                group.create_dataset(name.decode(), data=ops.convert_to_numpy(weight))


@pytest.mark.parametrize("by_name", [False, True], ids=["by_order", "by_name"])
def test_weights_of_group_normalization_model_load_into_ours(tmp_path, by_name):
    # Random gammas and betas, so that a swapped gamma/beta order would change the output.
    reference = small_model(
        lambda name: keras.layers.GroupNormalization(
            groups=-1, epsilon=1e-3, gamma_initializer="random_normal",
            beta_initializer="random_normal", name=name,
        )
    )
    path = tmp_path / "tfa_era.h5"
    write_tf2_keras_weights(reference, path)
    ours = small_model(lambda name: layers.InstanceNormalization(name=name))
    ours.load_weights(str(path), by_name=by_name)
    x = random_images((2, 8, 8, 3), seed=4)
    # Only rounding differs (on TensorFlow ours takes the fused kernel); a swapped gamma and
    # beta would not.
    np.testing.assert_allclose(ours(x), reference(x), atol=1e-5)


def layer_values_and_gradients(layer, x, upstream):
    """Outputs and the gradients of sum(outputs * upstream) for inputs, gamma and beta."""
    gamma, beta = (ops.convert_to_numpy(weight) for weight in (layer.gamma, layer.beta))
    # The weights join the inputs as one differentiated array, so one helper serves both
    # backends: channels 0..C-1 of row 0 are gamma, of row 1 beta.
    packed = np.concatenate([x.reshape(-1), gamma, beta])
    size, channels = x.size, gamma.size

    def apply(values):
        outputs, _ = layer.stateless_call(
            [values[size:size + channels], values[size + channels:]], [], ops.reshape(values[:size], x.shape)
        )
        return ops.reshape(outputs, (-1,))

    outputs = ops.convert_to_numpy(layer(x))
    gradient = input_gradient(apply, packed, upstream.reshape(-1))
    return [outputs, gradient[:size].reshape(x.shape), gradient[size:size + channels], gradient[size + channels:]]


def test_general_path_gives_the_formula_and_group_normalization_gradients():
    # The path every backend takes: keras.ops moments. Keras' own GroupNormalization with one
    # channel per group is the reference for its gradients.
    x = random_images((3, 6, 5, 4), seed=7)
    upstream = random_images((3, 6, 5, 4), seed=8)
    ours = layers.InstanceNormalization(name="norm")
    ours.build(x.shape)
    gamma, beta = set_random_gamma_beta(ours)
    reference = keras.layers.GroupNormalization(groups=-1, epsilon=1e-3, name="reference")
    reference.build(x.shape)
    reference.set_weights([gamma, beta])
    general = layer_values_and_gradients(ours, x, upstream)
    expected = layer_values_and_gradients(reference, x, upstream)
    for general_value, expected_value in zip(general, expected):
        np.testing.assert_allclose(general_value, expected_value, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(general[0], instance_norm_reference(x, gamma, beta), atol=1e-5)


@tensorflow_only
def test_fused_and_general_paths_agree_in_values_and_gradients(monkeypatch):
    # On TensorFlow a known batch size takes the fused kernel; the general keras.ops path,
    # what the JAX backend always runs, must give the same values and gradients.
    x = random_images((3, 6, 5, 4), seed=7)
    upstream = random_images((3, 6, 5, 4), seed=8)
    layer = layers.InstanceNormalization(name="norm")
    layer.build(x.shape)
    gamma, beta = set_random_gamma_beta(layer)
    assert layer._can_fuse(ops.convert_to_tensor(x))
    assert not layer._can_fuse(ops.zeros((layers.MAX_FUSED_BATCH + 1, 6, 5, 4)))
    fused = layer_values_and_gradients(layer, x, upstream)
    monkeypatch.setattr(layers.InstanceNormalization, "_can_fuse", lambda self, inputs: False)
    general = layer_values_and_gradients(layer, x, upstream)
    for fused_value, general_value in zip(fused, general):
        np.testing.assert_allclose(fused_value, general_value, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused[0], instance_norm_reference(x, gamma, beta), atol=1e-5)


def test_instance_norm_config_round_trip():
    layer = layers.InstanceNormalization(
        epsilon=1e-5,
        center=False,
        gamma_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.02),
        gamma_regularizer=keras.regularizers.L2(1e-4),
        gamma_constraint=keras.constraints.NonNeg(),
        name="configured",
    )
    config = layer.get_config()
    clone = layers.InstanceNormalization.from_config(config)
    assert clone.get_config() == config
    assert config["epsilon"] == 1e-5 and config["center"] is False
    assert config["name"] == "configured"
    assert isinstance(clone.gamma_initializer, keras.initializers.RandomNormal)
    assert clone.gamma_initializer.stddev == 0.02
    # tfa's configs name the same layer a group norm with groups=-1.
    tfa_config = {"name": "tfa_norm", "groups": -1, "axis": -1, "epsilon": 1e-3}
    assert layers.InstanceNormalization.from_config(tfa_config).epsilon == 1e-3


def test_reflection_padding_matches_numpy_and_shapes():
    x = random_images((2, 5, 6, 3))
    layer = layers.ReflectionPadding2D((2, 3), name="pad")
    expected = np.pad(x, [(0, 0), (2, 2), (3, 3), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(layer(x), expected)
    assert layer.compute_output_shape((None, 5, 6, 3)) == (None, 9, 12, 3)
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 3)
    assert layers.ReflectionPadding2D(3, name="square").padding == (3, 3)
    clone = layers.ReflectionPadding2D.from_config(layer.get_config())
    assert clone.padding == (2, 3)
    # The gradient sends each mirrored pixel's gradient back to its source, as a reflect-mode
    # pad's does.
    upstream = random_images((2, 9, 12, 3), seed=2)
    gradients = [
        input_gradient(pad, x, upstream)
        for pad in (layer, lambda t: ops.pad(t, [[0, 0], [2, 2], [3, 3], [0, 0]], mode="reflect"))
    ]
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-6)


@pytest.mark.parametrize("padding", [-1, (1,), (1, 2, 3), 1.5, "1"])
def test_reflection_padding_rejects_bad_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        layers.ReflectionPadding2D(padding)


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input(shape=(8, 8, 3), name="input_image")
    x = layers.ReflectionPadding2D(1, name="pad")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = layers.InstanceNormalization(
        gamma_initializer=keras.initializers.RandomNormal(0.0, 0.02), name="norm"
    )(x)
    model = keras.Model(inputs, x, name="tiny")
    path = tmp_path / "tiny.keras"
    model.save(path)
    # Registration makes the custom layers load without passing custom_objects.
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("norm"), layers.InstanceNormalization)
    assert isinstance(loaded.get_layer("pad"), layers.ReflectionPadding2D)
    x = random_images((2, 8, 8, 3), seed=5)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_mixed_bfloat16_keeps_statistics_in_float32():
    # Values far from zero: a mean and variance computed in bfloat16 (spacing 0.5 near 100)
    # would be off by a large fraction of the standard deviation.
    rng = np.random.default_rng(6)
    x = ops.cast(100 + rng.normal(size=(2, 16, 16, 3)), "bfloat16")
    previous_policy = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        layer = layers.InstanceNormalization(name="norm")
        outputs = layer(x)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    assert layer.compute_dtype == "bfloat16"
    assert layer.gamma.dtype == "float32" and layer.beta.dtype == "float32"
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    expected = instance_norm_reference(ops.convert_to_numpy(ops.cast(x, "float32")), 1.0, 0.0)
    # Only the final rounding of the output to bfloat16 (about 0.4 %) is allowed.
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cast(outputs, "float32")), expected, rtol=1e-2, atol=1e-2)
