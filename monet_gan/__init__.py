"""monet_gan: a CycleGAN that turns photos into Monet-style paintings.

The subpackages follow the path of the data, and import only from the stages before them:

    data/        Kaggle's TFRecords and JPEG folders -> tf.data batches
    networks/    layers, generators (U-Net, ResNet), PatchGAN discriminators
    training/    config, losses, pool, DiffAugment, composites, the CycleGAN, strategy, trainer
    generation/  a trained generator -> images.zip
    metrics/     FID, KID, MiFID
    kaggle/      the package dataset and the notebook's time budget

`import monet_gan` registers the package's custom Keras objects, so that
`keras.saving.load_model("photo_to_monet.keras")` works in any program that imported it.
"""

import sys

from monet_gan.devices import choose_backend

__version__ = "0.2.0"


def _register_keras_objects():
    # Imported for their side effect: each module registers its layers with Keras on import.
    from monet_gan.networks import layers  # noqa: F401


def _is_command_line():
    """Whether the running program is the package's command line, which loads Keras itself later.

    `python -m monet_gan` imports this package before its command line runs (sys.argv[0] is "-m"
    until then); submit.py says so with a global. Keras is left unloaded there, so that --help
    answers at once, TensorFlow's loading noise can be muted, and a command may still choose the
    Keras backend, which is fixed when Keras is first imported. Each command imports what it needs.
    """
    return sys.argv[:1] == ["-m"] or getattr(sys.modules.get("__main__"), "MONET_GAN_COMMAND_LINE", False)


# Keras fixes its backend on first import; on a TPU VM only JAX reaches the TPU, so the choice is
# made here, before anything below (or the caller) imports Keras. A set KERAS_BACKEND wins.
choose_backend()
if not _is_command_line():
    _register_keras_objects()
