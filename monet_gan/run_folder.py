"""The run folder: what `train` writes, what `generate` and the notebook read back.

    RUN/config.json                the TrainConfig; a resumed run must match its architecture
    RUN/log.csv                    one row of losses, accuracies, FID and KID per epoch
    RUN/loss_curves.png            those rows plotted
    RUN/samples/epoch_NNN.png      fixed photos, painted, and painted back to photos
    RUN/checkpoints/               weights, optimizer states, image pools and epoch (for resume)
    RUN/photo_to_monet.keras       the painting generator, ready to load anywhere
    RUN/photo_to_monet_ema.keras   its exponential moving average, when the config keeps one
    RUN/photo_to_monet_best.keras  the painting generator of the epoch with the lowest KID
    RUN/time_budget.json           the plans of a time-budgeted run

The trainer writes these names, the generator loader reads them, and nothing else spells them.
"""

import os

CONFIG_FILE = "config.json"
LOG_FILE = "log.csv"
LOSS_CURVES_FILE = "loss_curves.png"
SAMPLES_DIR = "samples"
CHECKPOINT_DIR = "checkpoints"
GENERATOR_FILE = "photo_to_monet.keras"
EMA_GENERATOR_FILE = "photo_to_monet_ema.keras"
BEST_GENERATOR_FILE = "photo_to_monet_best.keras"
TIME_BUDGET_FILE = "time_budget.json"


def path(run_dir, name):
    """The path of one of the run folder's entries, e.g. `path(run_dir, LOG_FILE)`."""
    return os.path.join(os.fspath(run_dir), name)


def sample_grid_path(run_dir, epoch_number):
    """Where the sample grid of 1-based epoch `epoch_number` goes."""
    return os.path.join(os.fspath(run_dir), SAMPLES_DIR, f"epoch_{epoch_number:03d}.png")
