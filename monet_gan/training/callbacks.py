"""The trainer's callbacks: log.csv, a stop on a diverged loss, and each epoch's checkpoint and pictures."""

import csv
import os

import keras
import numpy as np

from monet_gan import plots
from monet_gan import run_folder
from monet_gan.errors import UserError
from monet_gan.training import exports


def truncate_log(log_path, epoch):
    """Drops log rows of epochs after the checkpoint, which a killed run may have written."""
    if not os.path.exists(log_path):
        return
    with open(log_path) as file:
        lines = file.readlines()
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < epoch]
    with open(log_path, "w") as file:
        file.writelines(kept)


class EpochLog(keras.callbacks.Callback):
    """Appends one row per epoch to log.csv: the epoch number, then every value of the logs.

    Keras' CSVLogger adds a `val_` twin of every column when the first epoch has no validation,
    which this trainer never runs, so ten always-NA columns would follow the real ones. The
    columns are fixed by the file's header when it exists (a resumed run), else by the first
    epoch's logs; a value an epoch lacks is written as NA.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        columns = None
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, newline="") as file:
                columns = next(csv.reader(file), None)
        write_header = not columns
        if write_header:
            columns = ["epoch"] + sorted(logs)
        values = {"epoch": epoch, **logs}
        with open(self.path, "a", newline="") as file:
            writer = csv.writer(file)
            if write_header:
                writer.writerow(columns)
            writer.writerow([_log_value(values.get(column, "NA")) for column in columns])


def _log_value(value):
    if isinstance(value, str):
        return value
    value = np.asarray(value)
    return str(value.item()) if value.ndim == 0 else str(value.tolist())


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss, naming the epoch and step.

    Raising before the epoch ends means no checkpoint or export of the broken weights is written:
    the run directory keeps the last good epoch, from which a lower learning rate can resume.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if not np.isfinite(float(value)):
                raise UserError(
                    f"Training diverged: {name} is {float(value)} at epoch {self.epoch + 1}, "
                    f"step {batch + 1}. No checkpoint was written for this epoch; try a lower "
                    "--learning-rate or the lsgan loss, and run the same command to resume."
                )


class EpochArtifacts(keras.callbacks.Callback):
    """At each epoch's end: checkpoint, export, sample grid and loss curves, in that order."""

    def __init__(self, run_dir, checkpoint_manager, epoch_variable, sample_photos):
        super().__init__()
        self.run_dir = run_dir
        self.checkpoint_manager = checkpoint_manager
        self.epoch_variable = epoch_variable
        self.sample_photos = sample_photos

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_variable.assign(epoch + 1)
        self.checkpoint_manager.save(checkpoint_number=epoch + 1)
        exports.export_generators(self.model, self.run_dir)
        self.save_samples(epoch + 1)
        plots.save_loss_curves(
            os.path.join(self.run_dir, run_folder.LOG_FILE), os.path.join(self.run_dir, run_folder.LOSS_CURVES_FILE)
        )

    def save_samples(self, epoch_number):
        painted = self.model.photo_to_monet(self.sample_photos, training=False)
        reconstructed = self.model.monet_to_photo(painted, training=False)
        columns = [self.sample_photos, painted, reconstructed]
        rows = [[np.asarray(column[index]) for column in columns] for index in range(len(self.sample_photos))]
        plots.save_image_grid(
            rows,
            run_folder.sample_grid_path(self.run_dir, epoch_number),
            column_titles=["photo", "painted", "painted back"],
        )
