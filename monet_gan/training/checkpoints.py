"""Backend-neutral checkpoints: every variable of a run as NumPy arrays in one .npz per epoch.

tf.train.Checkpoint works only under TensorFlow, so under JAX (and wherever it is chosen) a run's
checkpoint is `checkpoints/ckpt-<epoch>.npz`: the model's variables (the four networks, the image
pools, the schedule's step counts, random seed states), each optimizer's variables (moments,
iteration counts, the generator's moving average) and the epoch, in a fixed order, each stored
under its index and path. A restore checks count, names and shapes before writing anything, so
a mismatch is one clear error and no half-restored model. The files are written to a temporary
name and renamed, so a run killed mid-save leaves the previous checkpoint intact.
"""

import glob
import os
import re

import keras
import numpy as np

from monet_gan.errors import UserError

TENSORFLOW_INDEX_PATTERN = "ckpt-*.index"
ARRAY_PATTERN = "ckpt-*.npz"


def run_variables(model, epoch_variable):
    """The variables a resumed run needs, in a fixed order."""
    variables = list(model.variables)
    for name in sorted(model.optimizers):
        variables.extend(model.optimizers[name].variables)
    variables.append(epoch_variable)
    return variables


def _key(index, variable):
    return f"{index:05d}:{variable.path}"


class ArrayCheckpointManager:
    """Saves and restores a run's variables as .npz files, keeping the newest `max_to_keep`.

    The interface follows tf.train.CheckpointManager where the trainer uses it: `save` with a
    `checkpoint_number` and `latest_checkpoint`.
    """

    def __init__(self, model, epoch_variable, directory, max_to_keep=2):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be at least 1, got {max_to_keep!r}.")
        self.model = model
        self.epoch_variable = epoch_variable
        self.directory = directory
        self.max_to_keep = max_to_keep

    def _paths(self):
        """Existing checkpoint files, oldest first."""
        paths = glob.glob(os.path.join(self.directory, ARRAY_PATTERN))
        return sorted(paths, key=lambda path: int(re.search(r"ckpt-(\d+)\.npz$", path).group(1)))

    @property
    def latest_checkpoint(self):
        paths = self._paths()
        return paths[-1] if paths else None

    def save(self, checkpoint_number):
        os.makedirs(self.directory, exist_ok=True)
        variables = run_variables(self.model, self.epoch_variable)
        arrays = {_key(index, variable): keras.ops.convert_to_numpy(variable.value)
                  for index, variable in enumerate(variables)}
        path = os.path.join(self.directory, f"ckpt-{int(checkpoint_number)}.npz")
        temporary_path = path[: -len(".npz")] + ".partial.npz"
        with open(temporary_path, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary_path, path)
        for old_path in self._paths()[: -self.max_to_keep]:
            os.remove(old_path)
        return path

    def restore(self, path=None):
        """Assigns every variable from `path` (default: the latest checkpoint)."""
        path = path or self.latest_checkpoint
        variables = run_variables(self.model, self.epoch_variable)
        with np.load(path) as arrays:
            saved = dict(arrays.items())
        expected = [_key(index, variable) for index, variable in enumerate(variables)]
        mismatches = sorted(set(expected) ^ set(saved))
        if not mismatches:
            mismatches = [key for key, variable in zip(expected, variables)
                          if tuple(saved[key].shape) != tuple(variable.shape)]
        if mismatches:
            raise UserError(
                f"The checkpoint {path} does not fit this model ({len(mismatches)} variables differ, "
                f"e.g. {mismatches[0]}). Use a new --run-dir, or the run's own settings."
            )
        for key, variable in zip(expected, variables):
            variable.assign(saved[key].astype(variable.dtype))
        return path


def check_backend(directory, backend):
    """A UserError if `directory` holds checkpoints written under the other Keras backend."""
    tensorflow_files = glob.glob(os.path.join(directory, TENSORFLOW_INDEX_PATTERN))
    array_files = glob.glob(os.path.join(directory, ARRAY_PATTERN))
    written_under = "tensorflow" if tensorflow_files else "jax" if array_files else None
    if written_under is not None and written_under != backend:
        raise UserError(
            f"The run in {os.path.dirname(directory.rstrip(os.sep))} was trained under the {written_under} "
            f"backend and cannot resume under {backend}: run the same command with --backend "
            f"{written_under} (or KERAS_BACKEND={written_under}), or use a new --run-dir."
        )
