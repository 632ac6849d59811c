"""What a run exports: the photo->Monet generator as .keras files, live and averaged.

The optimizer of the photo->Monet generator keeps the exponential moving average of its weights;
`painting_weights` swaps the average in for a save or an evaluation and puts the live weights back.
"""

import contextlib
import os

from monet_gan import files
from monet_gan import run_folder


def export_generators(model, run_dir):
    """Saves the photo->Monet generator, and its moving average when there is one, as .keras files."""
    generator = model.photo_to_monet
    paths = {"generator": os.path.join(run_dir, run_folder.GENERATOR_FILE)}
    save_atomically(generator, paths["generator"])
    if ema_optimizer(model).use_ema:
        paths["ema_generator"] = os.path.join(run_dir, run_folder.EMA_GENERATOR_FILE)
        with painting_weights(model):
            save_atomically(generator, paths["ema_generator"])
    return paths


def ema_optimizer(model):
    """The photo->Monet Adam, which keeps the moving average (inside a LossScaleOptimizer under float16)."""
    optimizer = model.optimizers["photo_to_monet"]
    return getattr(optimizer, "inner_optimizer", optimizer)


@contextlib.contextmanager
def painting_weights(model):
    """Puts the weights a run paints with into the photo->Monet generator for the `with` body.

    Those are the moving averages of its weights when the config keeps them (the optimizer holds
    them), else the live weights themselves. The live weights are back in place afterwards.
    """
    generator = model.photo_to_monet
    optimizer = ema_optimizer(model)
    if not optimizer.use_ema:
        yield generator
        return
    variables = generator.trainable_variables
    live_values = [variable.numpy() for variable in variables]
    optimizer.finalize_variable_values(variables)
    try:
        yield generator
    finally:
        for variable, value in zip(variables, live_values):
            variable.assign(value)


def save_atomically(network, path):
    """Saves a .keras file under a temporary name first, so a reader never sees half of one."""
    with files.replaced_atomically(path) as temporary_path:
        network.save(temporary_path)
