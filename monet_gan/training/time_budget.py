"""A training time budget: the run sizes itself to end, complete, before a deadline.

    python -m monet_gan train --data-dir tfrecords --run-dir runs/main --time-budget 4h30m

Kaggle stops a notebook at 5 hours and keeps nothing of a run it stops (its own tutorial, rerun
in 2022, took 569 minutes and could not be submitted). With a budget, the `TimeBudget` callback
times the training steps after the first (compiling) one and the work each epoch's end does
(checkpoint, export, sample grid), then plans how many epochs still fit. It rewrites the
learning-rate schedule so that the linear decay reaches zero at the planned last step, and stops
training after the planned last epoch. The run therefore ends decayed, checkpointed and exported,
never cut off. It plans once early in the first epoch, again at every epoch's end (the budget may
now allow more or fewer epochs), and at any step at which the current plan no longer fits.
If not even the first epoch fits, the plan ends that epoch early, at the last step that fits.

Every plan is written to `time_budget.json` in the run directory.

For the notebook, `notebook_budget` turns Kaggle's 5 hours into a training budget: the limit,
minus the set-up time already spent, minus the image generation time measured on a few batches
(`estimate_generation_seconds`), minus a safety margin.
"""

import json
import math
import os
import re
import time

import keras

from monet_gan import files
from monet_gan import run_folder

_DURATION = re.compile(
    r"^\s*(?:(?P<hours>\d+(?:\.\d*)?)\s*h)?\s*(?:(?P<minutes>\d+(?:\.\d*)?)\s*m)?"
    r"\s*(?:(?P<seconds>\d+(?:\.\d*)?)\s*s?)?\s*$"
)


def parse_duration(value):
    """Seconds from a number of seconds or a string such as '5400', '90m', '4h30m' or '1h 5m 30s'."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value)) if isinstance(value, str) else None
        if not match or not any(match.groupdict().values()):
            raise ValueError(
                f"Invalid duration {value!r}: expected seconds (5400) or hours, minutes and seconds "
                "such as '4h30m', '90m' or '1h5m30s'."
            )
        parts = {name: float(text) if text else 0.0 for name, text in match.groupdict().items()}
        seconds = 3600 * parts["hours"] + 60 * parts["minutes"] + parts["seconds"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"Invalid duration {value!r}: expected a positive time.")
    return seconds


def format_duration(seconds):
    """'1h05m', '12m30s' or '8.2s': short and readable in a log line."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def plan_epochs(seconds_left, step_seconds, overhead_seconds, steps_per_epoch, epochs_done,
                steps_into_epoch, max_epochs):
    """How far training can go in the time left: (epochs, total optimizer steps) from the run's start.

    Args:
        seconds_left: wall-clock time until the deadline.
        step_seconds: the measured time of one training step.
        overhead_seconds: the time an epoch's end takes (checkpoint, export, plots); the same
            amount is kept back for the export after training.
        steps_per_epoch: optimizer steps in one epoch.
        epochs_done: epochs finished so far, counting those of earlier, resumed runs.
        steps_into_epoch: steps already taken in the current epoch (0 at an epoch's end).
        max_epochs: the configured number of epochs; a budget never trains more.

    Returns:
        (epochs, total_steps). Normally total_steps == epochs * steps_per_epoch. When even the
        current epoch cannot be finished, epochs is that epoch and total_steps the last step of it
        that fits. At an epoch's end, epochs == epochs_done means: stop now.
    """
    available = seconds_left - overhead_seconds  # The export after training also takes its time.
    epoch_seconds = steps_per_epoch * step_seconds + overhead_seconds
    if steps_into_epoch:
        finish_current = (steps_per_epoch - steps_into_epoch) * step_seconds + overhead_seconds
        if finish_current > available:
            fitting_steps = max(int((available - overhead_seconds) // step_seconds), 0)
            return epochs_done + 1, epochs_done * steps_per_epoch + steps_into_epoch + fitting_steps
        extra_epochs = int((available - finish_current) // epoch_seconds)
        epochs = min(max_epochs, epochs_done + 1 + extra_epochs)
    else:
        extra_epochs = max(int(available // epoch_seconds), 0)
        epochs = min(max_epochs, epochs_done + extra_epochs)
    return epochs, epochs * steps_per_epoch


class TimeBudget(keras.callbacks.Callback):
    """Sizes the run to end before `deadline`: sets the schedule's length and when to stop.

    List it before the callback that writes checkpoints, so they hold the latest plan; the time
    that callback takes is measured at the next epoch's start. The model must have
    `set_schedule_length(total_steps)`.

    Args:
        deadline: the `time.monotonic()` value by which training, with its final export, is done.
        steps_per_epoch: optimizer steps per epoch.
        epochs: the configured number of epochs, an upper bound on the plan.
        run_dir: where `time_budget.json` records the plans; None records nothing.
        overhead_guess_seconds: the epoch-end time assumed before the first one is measured (the
            trainer guesses 2% of the budget); it matters only when not even one epoch fits.
    """

    def __init__(self, deadline, steps_per_epoch, epochs, run_dir=None, overhead_guess_seconds=0.0):
        super().__init__()
        self.deadline = deadline
        self.steps_per_epoch = steps_per_epoch
        self.max_epochs = epochs
        self.run_dir = run_dir
        self.overhead_seconds = overhead_guess_seconds
        self.overheads = []
        self.timed_steps = 0
        self.timed_seconds = 0.0
        self.executions = 0
        self.planned_epochs = None
        self.planned_steps = None
        self.plans = []
        self.epoch = 0
        self.last_time = None
        self.last_step = 0

    @property
    def step_seconds(self):
        return self.timed_seconds / self.timed_steps if self.timed_steps else None

    def seconds_left(self):
        return self.deadline - time.monotonic()

    # Keras hooks.

    def on_epoch_begin(self, epoch, logs=None):
        now = time.monotonic()
        if self.last_time is not None:
            # Everything since the previous epoch's last step: its checkpoint, export and plots.
            self.overheads.append(now - self.last_time)
            self.overhead_seconds = sum(self.overheads) / len(self.overheads)
        self.epoch = epoch
        self.last_time = now
        self.last_step = 0

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        steps_into_epoch = batch + 1
        self.executions += 1
        # The first execution traces and compiles the train step; it says nothing about the rest.
        if self.executions > 1:
            self.timed_steps += steps_into_epoch - self.last_step
            self.timed_seconds += now - self.last_time
        self.last_time, self.last_step = now, steps_into_epoch
        if self.step_seconds is None:
            return
        global_step = self.epoch * self.steps_per_epoch + steps_into_epoch
        if self.planned_steps is None or not self._plan_fits(global_step, steps_into_epoch):
            self._plan(steps_into_epoch)
        # A plan that ends inside this epoch stops here; one that ends with it, at its end.
        if global_step >= self.planned_steps and steps_into_epoch < self.steps_per_epoch:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        # This runs before the checkpoint of the epoch is written, so the checkpoint holds the
        # schedule as planned now, including a decision to stop here.
        if self.model.stop_training or self.step_seconds is None:
            return
        self.epoch = epoch + 1
        self._plan(steps_into_epoch=0)
        if self.planned_epochs <= epoch + 1 < self.max_epochs:
            self.model.stop_training = True

    # Planning.

    def _plan_fits(self, global_step, steps_into_epoch):
        """Whether the current plan still ends in time at the speed measured so far."""
        epoch_ends_left = self.planned_epochs - self.epoch
        needed = ((self.planned_steps - global_step) * self.step_seconds
                  + (epoch_ends_left + 1) * self.overhead_seconds)
        return needed <= self.seconds_left()

    def _plan(self, steps_into_epoch):
        seconds_left = self.seconds_left()
        epochs, total_steps = plan_epochs(
            seconds_left, self.step_seconds, self.overhead_seconds, self.steps_per_epoch,
            self.epoch, steps_into_epoch, self.max_epochs,
        )
        # Never plan to end before the step already reached: stopping now is the earliest end.
        total_steps = max(total_steps, self.epoch * self.steps_per_epoch + steps_into_epoch, 1)
        changed = (epochs, total_steps) != (self.planned_epochs, self.planned_steps)
        self.planned_epochs, self.planned_steps = epochs, total_steps
        if changed:
            self.model.set_schedule_length(total_steps)
            cut_short = total_steps < epochs * self.steps_per_epoch
            ending = f"stop at step {total_steps}, inside epoch {epochs}" if cut_short else (
                f"{epochs} of {self.max_epochs} epochs fit")
            print(
                f"time budget: {ending} ({self.step_seconds:.3f} s/step, "
                f"{self.overhead_seconds:.1f} s per epoch end, {format_duration(max(seconds_left, 0))} "
                f"left); the learning rate reaches zero at step {total_steps}"
            )
        self.plans.append({
            "epoch": self.epoch,
            "steps_into_epoch": steps_into_epoch,
            "seconds_left": round(seconds_left, 3),
            "step_seconds": round(self.step_seconds, 6),
            "epoch_end_seconds": round(self.overhead_seconds, 3),
            "planned_epochs": epochs,
            "planned_steps": total_steps,
        })
        self._record()

    def _record(self):
        if self.run_dir is None:
            return
        path = os.path.join(self.run_dir, run_folder.TIME_BUDGET_FILE)
        with files.replaced_atomically(path) as temporary_path, open(temporary_path, "w") as file:
            json.dump({
                "max_epochs": self.max_epochs,
                "steps_per_epoch": self.steps_per_epoch,
                "planned_epochs": self.planned_epochs,
                "planned_steps": self.planned_steps,
                "plans": self.plans,
            }, file, indent=2)
