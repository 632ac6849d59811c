"""The trained photo->Monet generator, from whatever a user points at.

A run directory holds up to four forms of it (see run_folder.py): `photo_to_monet_best.keras`
(the epoch with the lowest KID on the quality curve), `photo_to_monet_ema.keras` (the moving
average of the weights at the last epoch), `photo_to_monet.keras` (the live weights at the last
epoch), and, before the first export, the latest training checkpoint, restored into a generator
rebuilt from `config.json`. `choose` names one ("best", "ema", "last"); by default the first
present of best, ema, last is taken.
A bare `.keras` file and a `.weights.h5` file with the run's config beside it work too. Whatever
loads is checked to map images to images, so a discriminator passed by mistake is refused with
a clear message instead of failing later inside a graph function.
"""

import os

import keras
import tensorflow as tf

from monet_gan import errors
from monet_gan import run_folder
from monet_gan.errors import UserError
from monet_gan.networks import generators
from monet_gan.training import config as config_lib


def _load_keras_file(path):
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds of errors for a file it cannot read.
        raise UserError(
            f"cannot load {path} as a Keras model ({type(error).__name__}: {error})"
        ) from None


def generator_from_config(config_path):
    """An untrained photo->Monet generator with the architecture a run's config.json describes."""
    try:
        config = config_lib.TrainConfig.from_json(config_path)
    except (ValueError, TypeError) as error:
        raise UserError(f"{config_path} is not a valid run config ({error})") from None
    return generators.build_from_config(config, name="photo_to_monet")


# The generator choices of a run directory, each with its file and what it holds.
GENERATOR_CHOICES = {
    "best": (run_folder.BEST_GENERATOR_FILE, "the epoch with the lowest KID"),
    "ema": (run_folder.EMA_GENERATOR_FILE, "the moving average at the last epoch"),
    "last": (run_folder.GENERATOR_FILE, "the live weights at the last epoch"),
}


def run_dir_generator(run_dir, choice=None, use_ema=True):
    """(path, description) of the export a run directory paints with, or (None, None).

    Args:
      run_dir: a run folder.
      choice: "best", "ema" or "last": that export, which must exist. None: the first present of
        best, ema, last (of last only with `use_ema=False`).
      use_ema: with choice None, False skips the best and moving-average exports.
    """
    if choice is not None and choice not in GENERATOR_CHOICES:
        raise ValueError(f"choice must be one of {tuple(GENERATOR_CHOICES)}, got choice={choice!r}")
    if choice is not None:
        file_name, description = GENERATOR_CHOICES[choice]
        path = os.path.join(run_dir, file_name)
        if not os.path.isfile(path):
            present = [name for name, (file, _) in GENERATOR_CHOICES.items()
                       if os.path.isfile(os.path.join(run_dir, file))]
            raise UserError(
                f"{run_dir} has no {file_name} for --generator {choice}; present: "
                + (", ".join(present) if present else "none")
            )
        return path, f"{choice}: {description}"
    order = ("best", "ema", "last") if use_ema else ("last",)
    for name in order:
        file_name, description = GENERATOR_CHOICES[name]
        path = os.path.join(run_dir, file_name)
        if os.path.isfile(path):
            return path, f"{name}: {description}"
    return None, None


def _load_run_dir(run_dir, use_ema, choice=None):
    path, description = run_dir_generator(run_dir, choice, use_ema)
    if path is not None:
        print(f"painting with {path} ({description})")
        return _load_keras_file(path)
    config_path = os.path.join(run_dir, run_folder.CONFIG_FILE)
    checkpoint_dir = os.path.join(run_dir, run_folder.CHECKPOINT_DIR)
    latest = tf.train.latest_checkpoint(checkpoint_dir) if os.path.isdir(checkpoint_dir) else None
    if latest is None or not os.path.isfile(config_path):
        raise UserError(
            f"{run_dir} holds no generator: expected {run_folder.GENERATOR_FILE}, or "
            f"{run_folder.CONFIG_FILE} with a checkpoint in {run_folder.CHECKPOINT_DIR}/"
        )
    # No export yet (training stopped before its first epoch ended being exported): rebuild the
    # generator and take only its weights from the checkpoint, leaving optimizers and pools.
    generator = generator_from_config(config_path)
    status = tf.train.Checkpoint(photo_to_monet=generator).restore(latest).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise UserError(
            f"{latest} holds no photo_to_monet weights matching {config_path} ({error})"
        ) from None
    return generator


def _load_weights_file(path):
    config_path = os.path.join(os.path.dirname(os.path.abspath(path)), run_folder.CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise UserError(
            f"{path} is a weights file; it needs the run's {run_folder.CONFIG_FILE} beside it"
        )
    generator = generator_from_config(config_path)
    errors.load_weights(generator, path, f"cannot load {path} into the generator {config_path} describes")
    return generator


def check_generator(model, source="the model"):
    """The model's image size S (None if any), after checking it maps (None, S, S, 3) to the same."""
    try:
        input_shape = tuple(model.input_shape)
        output_shape = tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        raise UserError(
            f"{source} is not a photo->Monet generator: it has no single image input and output"
        ) from None
    size = input_shape[1] if len(input_shape) == 4 else None
    if not (len(input_shape) == 4 and input_shape[3] == 3 and input_shape[1] == input_shape[2]
            and output_shape == input_shape):
        raise UserError(
            f"{source} is not a photo->Monet generator: it maps {input_shape} to {output_shape}; "
            "expected (None, S, S, 3) to (None, S, S, 3)"
        )
    return size


def load_generator(ckpt, use_ema=True, choice=None):
    """The photo->Monet generator of a run directory, a .keras file or a .weights.h5 file.

    Args:
      ckpt: a run directory (its photo_to_monet_best.keras, else photo_to_monet_ema.keras, else
        photo_to_monet.keras, else the latest checkpoint rebuilt from config.json), a .keras
        generator, or a .weights.h5 file with the run's config.json beside it.
      use_ema: with `choice` None, False paints a run directory's live weights (last epoch).
      choice: "best", "ema" or "last" export of a run directory (see GENERATOR_CHOICES); it
        must exist. Refused for a file, which holds only one generator.

    Returns:
      A keras.Model mapping (None, S, S, 3) images in [-1, 1] to paintings in [-1, 1].
    """
    path = os.fspath(ckpt)
    if not os.path.exists(path):
        raise UserError(f"checkpoint not found: {path}")
    if choice is not None and not os.path.isdir(path):
        raise UserError(f"a generator choice ({choice}) needs a run directory, got the file {path}")
    if os.path.isdir(path):
        model = _load_run_dir(path, use_ema, choice)
    elif path.endswith(".weights.h5"):
        model = _load_weights_file(path)
    elif path.endswith(".keras"):
        model = _load_keras_file(path)
    else:
        raise UserError(f"{path} is not a run directory, a .keras file or a .weights.h5 file")
    check_generator(model, path)
    return model
