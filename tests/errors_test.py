"""UserError and the weights loader that reports a mismatched file as one."""

import keras
import numpy as np
import pytest

from monet_gan import errors


def dense_model(units):
    inputs = keras.Input(shape=(3,), name="values")
    return keras.Model(inputs, keras.layers.Dense(units, name="dense")(inputs), name="tiny")


def test_user_error_is_a_value_error():
    assert issubclass(errors.UserError, ValueError)


def test_load_weights_loads_a_matching_file(tmp_path):
    source, target = dense_model(2), dense_model(2)
    path = str(tmp_path / "tiny.weights.h5")
    source.save_weights(path)
    errors.load_weights(target, path, "should not fail")
    for loaded, saved in zip(target.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, saved)


@pytest.mark.parametrize("contents", ["other weights", "not a file"])
def test_load_weights_turns_any_failure_into_one_user_error(tmp_path, contents):
    path = str(tmp_path / "other.weights.h5")
    if contents == "other weights":
        dense_model(5).save_weights(path)
    else:
        with open(path, "w") as file:
            file.write("plain text")
    with pytest.raises(errors.UserError, match=r"^other.weights.h5 is not tiny's \(\w+: "):
        errors.load_weights(dense_model(2), path, "other.weights.h5 is not tiny's")
