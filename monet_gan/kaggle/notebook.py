"""What only the Kaggle notebook needs: its time budget, measured before training starts.

The notebook must finish within Kaggle's limit for a submission (5 hours). It measures how long
painting images.zip will take with the configured generator, then gives training what is left:

    budget = notebook_budget(started_at, estimate_generation_seconds(config, photos, count))
"""

import os
import tempfile
import time

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
        generator = generators.build_generator(
            config.generator, image_size=config.image_size, filters=config.generator_filters,
            num_residual_blocks=config.num_residual_blocks, dropout_rate=config.dropout_rate,
            norm_gamma_init=config.norm_gamma_init, name="photo_to_monet",
        )
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
