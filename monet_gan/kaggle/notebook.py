"""What only the Kaggle notebook needs: its time budget, and a previous session's run to resume.

A notebook run can be submitted only when it took at most 5 hours (a longer run still finishes).
The notebook measures how long painting images.zip will take with the configured generator, then
gives training what is left:

    budget = notebook_budget(started_at, estimate_generation_seconds(config, photos, count))

Training longer than one session allows is split across sessions: the output of the previous
version, attached as an input, holds its run folder, which `resume_previous_run` copies back into
the working directory so the trainer continues from its last checkpoint.
"""

import os
import re
import shutil
import tempfile
import time

from monet_gan import run_folder
from monet_gan.data import kaggle_input
from monet_gan.errors import UserError
from monet_gan.generation import painting
from monet_gan.generation import submission
from monet_gan.networks import generators
from monet_gan.training import strategy as strategy_lib
from monet_gan.training.time_budget import format_duration
from monet_gan.training.time_budget import parse_duration

KAGGLE_TIME_LIMIT = "5h"
DEFAULT_MARGIN = "15m"


def estimate_generation_seconds(config, photo_source, count, strategy=None, batch_size=None):
    """Seconds that painting `count` photos into images.zip will take, measured on a few batches.

    Paints one batch, then three, with an untrained generator of the config's architecture through
    `submission.write_submission` itself (into a temporary directory), and extrapolates linearly:
    the difference between the two runs is the per-batch cost without start-up and compilation.
    """
    strategy = strategy or strategy_lib.get_strategy(verbose=False)
    batch_size = batch_size or painting.DEFAULT_BATCH_SIZE
    replicas = strategy.num_replicas_in_sync
    global_batch = -(-batch_size // replicas) * replicas
    with strategy.scope(), strategy_lib.dtype_policy(strategy, config.mixed_precision):
        generator = generators.build_from_config(config, name="photo_to_monet")
    limits = sorted({min(global_batch, count), min(3 * global_batch, count)})
    seconds = []
    with tempfile.TemporaryDirectory() as directory:
        for limit in limits:
            result = submission.write_submission(
                generator, photos=photo_source, out=os.path.join(directory, "trial.zip"),
                batch_size=batch_size, limit=limit, strategy=strategy, verbose=False,
            )
            seconds.append(result["seconds"])
    if len(limits) == 1:
        return seconds[0] * count / limits[0]
    per_image = max(seconds[1] - seconds[0], 0.0) / (limits[1] - limits[0])
    return seconds[0] + per_image * (count - limits[0])


def notebook_budget(started_at, generation_seconds, time_limit=KAGGLE_TIME_LIMIT, margin=DEFAULT_MARGIN):
    """The training budget in seconds: the limit minus set-up so far, generation and a margin.

    Args:
        started_at: the `time.monotonic()` value at the notebook's first cell.
        generation_seconds: the estimate of `estimate_generation_seconds`.
        time_limit: the notebook's limit, e.g. '5h' (Kaggle's).
        margin: kept free for everything not measured (MiFID check, plots, noise), e.g. '15m'.
    """
    limit, margin = parse_duration(time_limit), parse_duration(margin)
    set_up = time.monotonic() - started_at
    budget = limit - set_up - generation_seconds - margin
    print(
        f"time budget for training: {format_duration(max(budget, 0))} = {format_duration(limit)} limit "
        f"- {format_duration(set_up)} set-up - {format_duration(generation_seconds)} generation "
        f"- {format_duration(margin)} margin"
    )
    if budget <= 0:
        raise UserError(
            f"No time left to train within {time_limit}: set-up took {format_duration(set_up)}, "
            f"generation needs about {format_duration(generation_seconds)} and the margin is "
            f"{format_duration(margin)}."
        )
    return budget


# Resuming a previous session.


def checkpoint_epoch(run_dir):
    """The epoch of a run folder's latest checkpoint, or 0 when it has none."""
    state = os.path.join(os.fspath(run_dir), run_folder.CHECKPOINT_DIR, "checkpoint")
    if not os.path.isfile(state):
        return 0
    with open(state) as file:
        match = re.search(r'model_checkpoint_path: ".*?ckpt-(\d+)"', file.read())
    return int(match.group(1)) if match else 0


def _is_run_folder(path):
    return os.path.isfile(os.path.join(path, run_folder.CONFIG_FILE)) and checkpoint_epoch(path) > 0


def find_previous_runs(input_root=None):
    """Run folders (config.json and a checkpoint) under Kaggle's input root, furthest trained first."""
    root = input_root or kaggle_input.input_root()
    found = kaggle_input.search(root, _is_run_folder, depth=kaggle_input.SEARCH_DEPTH + 1)
    return sorted(found, key=lambda path: (-checkpoint_epoch(path), path))


def resume_previous_run(resume_from, run_dir, input_root=None):
    """Copies a previous session's run folder into `run_dir` (inputs are read-only); returns its path.

    Args:
        resume_from: None (start afresh, or continue `run_dir` itself), "auto" (the furthest
            trained run folder found under the input root, if any) or the path of a run folder.
        run_dir: the run folder this session trains in.
        input_root: where "auto" searches; default Kaggle's input root.

    A `run_dir` whose checkpoint is as far as the previous run's, or further, is kept as it is:
    re-running the notebook in one session must not step back. Returns None when nothing was copied.
    """
    if resume_from is None:
        return None
    if resume_from == "auto":
        runs = find_previous_runs(input_root)
        if not runs:
            print("no previous run attached: training starts afresh")
            return None
        source = runs[0]
    else:
        source = os.fspath(resume_from)
        if not _is_run_folder(source):
            raise UserError(
                f"RESUME_FROM={source!r} is not a run folder with a checkpoint (expected "
                f"{run_folder.CONFIG_FILE} and {run_folder.CHECKPOINT_DIR}/ in it)"
            )
    if os.path.abspath(source) == os.path.abspath(run_dir):
        return None
    if checkpoint_epoch(run_dir) >= checkpoint_epoch(source):
        print(f"{run_dir} is already at epoch {checkpoint_epoch(run_dir)}: not replaced by {source}")
        return None
    if os.path.exists(run_dir):
        shutil.rmtree(run_dir)
    shutil.copytree(source, run_dir)
    print(f"resuming from {source} (epoch {checkpoint_epoch(run_dir)}), copied to {run_dir}")
    return source
