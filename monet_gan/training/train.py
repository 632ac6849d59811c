"""The trainer: from a data directory and a config to a run directory, resumable at every epoch.

    python -m monet_gan train --data-dir tfrecords --run-dir runs/main

The run directory's layout is in run_folder.py; what is written into it at every epoch's end is in
callbacks.py and exports.py. Running the same command again after an interruption continues from
the last finished epoch.
"""

import os
import time

import keras
import numpy as np
import tensorflow as tf

from monet_gan import devices
from monet_gan import run_folder
from monet_gan.data import pipeline
from monet_gan.data import sources
from monet_gan.errors import UserError
from monet_gan.training import callbacks as callbacks_lib
from monet_gan.training import checkpoints
from monet_gan.training import config as config_lib
from monet_gan.training import cyclegan
from monet_gan.training import exports
from monet_gan.training import strategy as strategy_lib
from monet_gan.training import time_budget as time_budget_lib


def prepare_run_dir(run_dir, config):
    """Creates the run directory, or checks that an existing one was made with this architecture."""
    os.makedirs(run_dir, exist_ok=True)
    config_path = os.path.join(run_dir, run_folder.CONFIG_FILE)
    if os.path.exists(config_path):
        saved = config_lib.TrainConfig.from_json(config_path)
        mismatches = config.architecture_mismatches(saved)
        if mismatches:
            raise UserError(
                f"The run directory {run_dir} was made with a different architecture ("
                + "; ".join(mismatches)
                + "). Use a new --run-dir, or the run's own settings."
            )
    config.to_json(config_path)


def make_checkpoint(model, epoch):
    """Everything a resumed run needs: weights, optimizer states (with EMA), image pools, epoch."""
    return tf.train.Checkpoint(
        epoch=epoch,
        **model.networks,
        **{f"{name}_optimizer": optimizer for name, optimizer in model.optimizers.items()},
        fake_monet_pool=model.fake_monet_pool,
        fake_photo_pool=model.fake_photo_pool,
        **model.schedule_steps,  # The schedule's length, which a time budget may have changed.
    )


def resolve_sources(data_dir=None, photo_source=None, monet_source=None):
    """The photo and Monet sources: given explicitly, or found in a Kaggle-layout data directory."""
    if photo_source is None or monet_source is None:
        found = sources.find_data_dir(data_dir)
        photo_source = photo_source or sources.domain_source(found, "photo")
        monet_source = monet_source or sources.domain_source(found, "monet")
    return photo_source, monet_source


def train(config, run_dir, data_dir=None, photo_source=None, monet_source=None, strategy=None, verbose="auto",
          time_budget=None, callbacks=()):
    """Trains (or resumes) a CycleGAN run and returns a summary dict of what it wrote.

    `time_budget` (seconds, or a string such as '4h30m'), counted from this call, makes the run
    plan its own length so that it ends complete within it (see time_budget.py). `callbacks` are
    extra Keras callbacks, run at each epoch's end after the model's own metrics and before the
    epoch is logged, checkpointed and exported; the command line passes the quality curve
    (monet_gan.metrics.quality) this way, since training cannot import the metrics stage.
    """
    # Time budget: the clock starts now, so set-up and compilation count against it.
    deadline = None if time_budget is None else time.monotonic() + time_budget_lib.parse_duration(time_budget)
    strategy = strategy or strategy_lib.get_strategy()
    if not strategy_lib.is_tpu(strategy):
        # The GPU recipe (a batch that fits the GPUs) for the fields the caller left at the defaults.
        machine = devices.detect()
        config, applied = config_lib.apply_device_overrides(config, machine, strategy.num_replicas_in_sync)
        if applied:
            print(f"recipe for {machine.describe()}: {applied} (set these fields to choose otherwise)")
    strategy_lib.check_global_batch(config.batch_size, strategy)
    strategy_lib.check_steps_per_execution(config.steps_per_execution, strategy)
    prepare_run_dir(run_dir, config)

    photo_source, monet_source = resolve_sources(data_dir, photo_source, monet_source)
    photo_count = sources.count_images(photo_source)
    steps_per_epoch = config_lib.steps_per_epoch_for(
        photo_count, config.batch_size, config.steps_per_execution, config.steps_per_epoch
    )
    if steps_per_epoch == 0:
        raise UserError(
            f"Only {photo_count} photos in {photo_source}: fewer than one batch of {config.batch_size}."
        )
    sample_photos = np.stack(
        [image for image in pipeline.load_images(photo_source, config.image_size).take(config.sample_count).as_numpy_iterator()]
    )

    total_steps = config.epochs * steps_per_epoch
    backend = keras.backend.backend()
    checkpoint_dir = os.path.join(run_dir, run_folder.CHECKPOINT_DIR)
    checkpoints.check_backend(checkpoint_dir, backend)
    with strategy.scope(), strategy_lib.dtype_policy(strategy, config.mixed_precision) as policy:
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps, config.steps_per_execution, config.jit_compile)
        if backend == "tensorflow":
            epoch_variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            checkpoint = make_checkpoint(model, epoch_variable)
        else:
            epoch_variable = keras.Variable(0, dtype="int32", trainable=False, name="epoch")
    print(f"networks compute in {policy} (mixed_precision={config.mixed_precision!r})")
    if backend == "tensorflow":
        manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=2)
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    else:
        # tf.train.Checkpoint cannot hold JAX variables: NumPy arrays instead (checkpoints.py).
        manager = checkpoints.ArrayCheckpointManager(model, epoch_variable, checkpoint_dir, max_to_keep=2)
        if manager.latest_checkpoint:
            manager.restore()
    if deadline is None:
        # Without a budget the configured epochs decide the schedule, even when resuming a run
        # whose length a budget once planned or whose --epochs changed.
        model.set_schedule_length(total_steps)
    initial_epoch = int(epoch_variable.numpy())
    callbacks_lib.truncate_log(os.path.join(run_dir, run_folder.LOG_FILE), initial_epoch)
    if initial_epoch:
        print(f"resuming {run_dir} after epoch {initial_epoch} of {config.epochs}")
    # The stream starts at the first epoch still to train, whose order and augmentation the
    # seed and the epoch number decide: a resumed seeded run sees the batches an uninterrupted
    # one would have seen.
    dataset = pipeline.training_dataset(
        photo_source, monet_source, image_size=config.image_size,
        global_batch_size=config.batch_size, augment=config.augment, seed=config.seed,
        steps_per_epoch=steps_per_epoch, first_epoch=initial_epoch,
        end_epoch=max(config.epochs, initial_epoch + 1),
    )

    # Extra callbacks (e.g. the quality curve of monet_gan.metrics.quality) run before the log,
    # so that values they add to an epoch's logs land in log.csv.
    callbacks = [
        callbacks_lib.StopOnNonFiniteLoss(),
        *callbacks,
        callbacks_lib.EpochLog(os.path.join(run_dir, run_folder.LOG_FILE)),
        callbacks_lib.EpochArtifacts(run_dir, manager, epoch_variable, sample_photos),
    ]
    if deadline is not None:
        # Before EpochArtifacts, so each checkpoint holds the schedule as last planned.
        budget_seconds = deadline - time.monotonic()
        callbacks.insert(-1, time_budget_lib.TimeBudget(
            deadline, steps_per_epoch, config.epochs, run_dir=run_dir,
            overhead_guess_seconds=0.02 * max(budget_seconds, 0.0),
        ))
    if initial_epoch < config.epochs:
        # A corrupt file surfaces only when the pipeline reaches it; name it instead of a stack.
        with sources.user_errors(photo_source, monet_source), strategy_lib.fit_scope(strategy):
            model.fit(
                dataset, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose,
            )
    paths = exports.export_generators(model, run_dir)
    epochs = int(epoch_variable.numpy())
    steps = int(model.optimizers["photo_to_monet"].iterations.numpy())
    print(f"trained {epochs} of {config.epochs} epochs ({steps} steps of {steps_per_epoch} per epoch); "
          f"generator: {paths['generator']}")
    return {"model": model, "steps_per_epoch": steps_per_epoch, "epochs": epochs, "steps": steps, **paths}


# Command line.

def add_arguments(parser):
    parser.add_argument("--data-dir", help="Kaggle-layout data directory (default: tfrecords/, else "
                        "the competition found under /kaggle/input)")
    parser.add_argument("--photos", help="photo source instead of --data-dir: folder, TFRecords or glob")
    parser.add_argument("--monets", help="Monet source instead of --data-dir: folder, TFRecords or glob")
    parser.add_argument("--run-dir", required=True, help="where checkpoints, exports and plots go")
    parser.add_argument("--config", help="JSON file of TrainConfig values (flags override it)")
    parser.add_argument("--smoke", action="store_true", help="start from the tiny CPU configuration")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--batch-size", type=int, help="global batch size (all replicas together)")
    parser.add_argument("--generator", choices=config_lib.GENERATOR_ARCHITECTURES)
    parser.add_argument("--upsampling", choices=config_lib.UPSAMPLINGS,
                        help="the generators' upsampling: transposed convolutions (default) or "
                        "resize-convolution (nearest, bilinear), which leaves no checkerboard")
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--diffaugment", metavar="POLICY",
                        help="DiffAugment on the discriminators' inputs, off by default; "
                        f"'{config_lib.DIFFAUGMENT_POLICY}' turns it on (docs/recipe.md)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--backend", choices=("tensorflow", "jax"),
                        help="Keras backend (default: KERAS_BACKEND, else tensorflow); jax reaches Kaggle's TPU VM")
    parser.add_argument("--strategy", default="auto", choices=strategy_lib.STRATEGY_CHOICES)
    parser.add_argument("--steps-per-execution", type=int,
                        help="train steps per call into the device (TPUs: 32 or more hides the host's latency)")
    parser.add_argument("--time-budget", metavar="DURATION",
                        help="end the run, decayed and exported, within this time: seconds or e.g. '4h30m'")


def config_from_args(args):
    """The config a command line asks for: smoke or recipe defaults, then --config, then flags."""
    config = config_lib.TrainConfig.smoke() if args.smoke else config_lib.TrainConfig()
    if args.config:
        if not os.path.exists(args.config):
            raise UserError(f"Config file not found: {args.config}")
        config = config_lib.TrainConfig.from_json(args.config)
    return config.replace(
        epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, image_size=args.image_size,
        batch_size=args.batch_size, generator=args.generator, upsampling=args.upsampling,
        learning_rate=args.learning_rate, diffaugment_policy=args.diffaugment,
        seed=args.seed, steps_per_execution=args.steps_per_execution,
    )


def run(args):
    config = config_from_args(args)
    train(
        config, args.run_dir, data_dir=args.data_dir, photo_source=args.photos,
        monet_source=args.monets, strategy=strategy_lib.get_strategy(args.strategy),
        time_budget=args.time_budget,
    )
