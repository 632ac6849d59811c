"""The `python -m monet_gan <command>` entry point.

Each command lives in the module of the stage it belongs to; that module defines
`add_arguments(parser)` and `run(args)`. Only the chosen command's module is imported, so
`--help` answers at once instead of waiting for TensorFlow to load.
"""

import argparse
import importlib
import os
import sys

from monet_gan.errors import UserError

# Command name -> (module, one-line description). The order is the order of the data's path.
COMMANDS = {
    "download": ("monet_gan.data.download", "Fetch the competition data with the Kaggle API."),
    "look": ("monet_gan.data.preview", "Count the images per domain and save a PNG grid of a few."),
    "make-tfrecords": (
        "monet_gan.data.tfrecord_writer",
        "Turn a folder of JPEGs into TFRecord shards in Kaggle's schema.",
    ),
    "train": ("monet_gan.train_command", "Train a CycleGAN on photos and Monet paintings."),
    "demo": ("monet_gan.demo", "Train briefly on a built-in synthetic set (no downloads)."),
    "generate": ("monet_gan.generate", "Paint photos with a trained generator into images.zip."),
    "mifid": ("monet_gan.metrics.mifid", "Score generated images against real Monets (FID, KID, MiFID)."),
    "package": ("monet_gan.kaggle.package", "Build the Kaggle dataset upload of this package for the notebook."),
}


def _top_level_parser():
    parser = argparse.ArgumentParser(
        prog="python -m monet_gan",
        description="CycleGAN for Kaggle's 'I'm Something of a Painter Myself'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:16s}{help_text}" for name, (_, help_text) in COMMANDS.items())
        + "\n\nRun `python -m monet_gan COMMAND --help` for a command's options.",
    )
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND")
    return parser


BACKENDS = ("tensorflow", "jax")


def requested_backend(argv):
    """The value of a `--backend NAME` or `--backend=NAME` option in `argv`, or None."""
    for index, argument in enumerate(argv):
        if argument == "--backend" and index + 1 < len(argv):
            return argv[index + 1]
        if argument.startswith("--backend="):
            return argument.split("=", 1)[1]
    return None


def select_backend(name):
    """Makes `name` Keras' backend; Keras fixes its backend when first imported, so this must
    come before. A UserError if Keras is already loaded with another one."""
    if name not in BACKENDS:
        raise UserError(f"Unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.")
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != name:
            raise UserError(
                f"Keras is already loaded with the {loaded} backend, so --backend {name} cannot take "
                f"effect; set KERAS_BACKEND={name} before Python imports Keras."
            )
    os.environ["KERAS_BACKEND"] = name


def run_command(module_name, prog, description, argv):
    """Parses `argv` for one command module and runs it, turning user errors into exit code 2."""
    backend = requested_backend(argv)
    if backend is not None:
        try:
            select_backend(backend)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    module = _import_quietly(module_name)
    parser = argparse.ArgumentParser(prog=prog, description=description)
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return module.run(args) or 0
    except (UserError, ValueError, FileNotFoundError) as error:
        # A user error is reported as one line; the traceback would only bury it.
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _import_quietly(module_name):
    """Imports a command's module with the native log lines TensorFlow prints on loading muted.

    TensorFlow 2.21 writes them before its logging reads TF_CPP_MIN_LOG_LEVEL
    (tensorflow/tensorflow#100442), so only muting the stderr file descriptor silences them.
    Python's own errors are still shown: an import that fails raises after stderr is restored.
    """
    if "tensorflow" in sys.modules:
        return importlib.import_module(module_name)
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                return importlib.import_module(module_name)
            finally:
                os.dup2(saved_stderr, 2)
    finally:
        os.close(saved_stderr)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _top_level_parser().parse_args(argv[:1] or ["--help"])
        return 2
    # TensorFlow's C++ start-up chatter hides the program's own output on the command line.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    name = argv[0]
    module_name, description = COMMANDS[name]
    return run_command(module_name, f"python -m monet_gan {name}", description, argv[1:])
