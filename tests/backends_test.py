"""One model file for both backends: a generator saved under one paints the same under the other.

Kaggle's TPU VMs train on the JAX backend and CPUs and GPUs run TensorFlow, so a `.keras` file
or a `.weights.h5` file written by either must load and paint identically under the other. Each
test saves here, under the backend this run uses, and paints the same images in a subprocess
with KERAS_BACKEND set to the other backend. Marked backend_agnostic, so both directions run:
TensorFlow to JAX in the main test run, JAX to TensorFlow in the JAX run.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import PROJECT_ROOT
from conftest import spread_outputs

from monet_gan.networks import generators

pytestmark = pytest.mark.backend_agnostic

OTHER_BACKEND = {"tensorflow": "jax", "jax": "tensorflow"}[keras.backend.backend()]

# Run in the other backend: load the .keras file and rebuild the generator for the weights
# file, paint the saved images with both, and write the paintings next to them.
PAINT_UNDER_OTHER_BACKEND = """
import json, os, sys
import keras
import numpy as np
import monet_gan  # Registers the custom layers, as every entry point does.
from monet_gan.networks import generators

for directory in sys.argv[1:]:
    with open(os.path.join(directory, "generator.json")) as file:
        arguments = json.load(file)
    images = np.load(os.path.join(directory, "images.npy"))
    loaded = keras.saving.load_model(os.path.join(directory, "generator.keras"))
    rebuilt = generators.build_generator(**arguments)
    rebuilt.load_weights(os.path.join(directory, "generator.weights.h5"))
    for name, model in (("from_keras_file", loaded), ("from_weights_file", rebuilt)):
        paintings = keras.ops.convert_to_numpy(model(images, training=False))
        np.save(os.path.join(directory, name + ".npy"), paintings)
print(keras.backend.backend())
"""


def save_generator(directory, architecture):
    """Saves a small generator both ways, with the images to paint; returns its paintings here."""
    arguments = dict(architecture=architecture, image_size=32, filters=4, num_residual_blocks=1, name="generator")
    generator = generators.build_generator(**arguments)
    # Unit gammas and a larger output layer: the paintings use the whole range, so equal
    # pixels mean equal networks rather than two flat grey images.
    spread_outputs(generator)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    paintings = keras.ops.convert_to_numpy(generator(images, training=False))
    assert paintings.std() > 0.1
    directory.mkdir()
    generator.save(directory / "generator.keras")
    generator.save_weights(directory / "generator.weights.h5")
    np.save(directory / "images.npy", images)
    (directory / "generator.json").write_text(json.dumps(arguments))
    return paintings


def test_generator_files_paint_the_same_under_the_other_backend(tmp_path):
    keras.utils.set_random_seed(0)
    architectures = generators.ARCHITECTURES
    expected = {name: save_generator(tmp_path / name, name) for name in architectures}
    # One subprocess for both architectures: starting a backend is most of its cost.
    environment = {**os.environ, "KERAS_BACKEND": OTHER_BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", PAINT_UNDER_OTHER_BACKEND, *(str(tmp_path / name) for name in architectures)],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == OTHER_BACKEND
    # Only rounding differs: TensorFlow may take its fused instance norm, JAX the general ops.
    for architecture in architectures:
        for name in ("from_keras_file", "from_weights_file"):
            np.testing.assert_allclose(
                np.load(tmp_path / architecture / f"{name}.npy"), expected[architecture],
                atol=1e-4, err_msg=f"{architecture} {name}",
            )
