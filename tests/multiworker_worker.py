"""One worker of the two-process MultiWorkerMirroredStrategy test in distribution_test.py.

    TF_CONFIG='{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": 0}}' \
        python tests/multiworker_worker.py INITIAL_WEIGHTS.npz OUTPUT_PREFIX

Each worker is its own process with its own (single) CPU device. It takes the strategy from
`get_strategy("multiworker")`, starts from the initial weights the test saved, trains a few
steps on fixed batches and saves its per-step losses and final weights to
OUTPUT_PREFIX<index>.npz. The helpers here also give the test the same config and batches, so
the single-process reference run is built exactly like the workers' run.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from monet_gan.training import config as config_lib  # noqa: E402
from monet_gan.training import cyclegan  # noqa: E402

STEPS = 3
GLOBAL_BATCH_SIZE = 4
# Equal to rounding is what distribution promises; a comparison of weights can only show it where
# a weight's update is a smooth function of its gradient. Adam with its default epsilon makes the
# first updates almost sign(gradient), so a gradient that two runs compute as +1e-12 and -1e-12
# (rounding noise) puts their weights a whole step apart. An epsilon of 1 makes Adam's update
# proportional to the (averaged) gradient; the larger rate makes every weight move visibly.
ADAM_EPSILON = 1.0
LEARNING_RATE = 1e-3


def equivalence_config():
    """The smoke config with every source of randomness in training turned off."""
    return config_lib.TrainConfig.smoke(
        diffaugment_policy="", pool_size=0, dropout_rate=0.0, augment=False,
        batch_size=GLOBAL_BATCH_SIZE, seed=0, learning_rate=LEARNING_RATE, num_residual_blocks=1,
    )


def starting_weights(seed=0):
    """Seeded weights for every network, with the normalization scales near 1.

    The networks initialize those scales near 0 (Kaggle's tutorial does), which leaves every
    convolution's gradient around 1e-9: with the smooth update above they would hardly move.
    """
    keras.utils.set_random_seed(seed)
    model = cyclegan.CycleGAN(equivalence_config())
    random = np.random.default_rng(seed)
    weights = {}
    for name, network in model.networks.items():
        for index, variable in enumerate(network.weights):
            value = variable.numpy()
            if variable.path.endswith("gamma"):
                value = (1.0 + 0.02 * random.standard_normal(value.shape)).astype(value.dtype)
            weights[f"{name}/{index}"] = value
    return weights


def fixed_dataset(config, steps=STEPS):
    """`steps` different global batches of (photos, monets), the same in every process."""
    random = np.random.default_rng(0)
    shape = (steps * config.batch_size, config.image_size, config.image_size, 3)
    photos = random.uniform(-1, 1, shape).astype("float32")
    monets = random.uniform(-1, 1, shape).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((photos, monets))
    dataset = dataset.batch(config.batch_size, drop_remainder=True)
    # Sharding by element lets each worker take its half of every global batch.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def network_weights(model):
    """{'<network>/<index>': array} for the four networks' weights."""
    return {
        f"{name}/{index}": variable.numpy()
        for name, network in model.networks.items()
        for index, variable in enumerate(network.weights)
    }


def set_network_weights(model, weights):
    for name, network in model.networks.items():
        network.set_weights([weights[f"{name}/{index}"] for index in range(len(network.weights))])


class StepLosses(keras.callbacks.Callback):
    """Keeps the logged values after every step, in CycleGAN.METRIC_NAMES order."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append([float(logs[name]) for name in cyclegan.METRIC_NAMES])


def build_and_train(config, strategy, weights, steps=STEPS, run_eagerly=True):
    """A CycleGAN made in the strategy's scope from `weights`, trained `steps` steps.

    For three steps, running the train step eagerly is about twice as fast as tracing it (the
    strategy still runs it on every replica and all-reduces the gradients the same way); on
    MirroredStrategy it is slower, since every eager op is dispatched once per device.

    Returns the model and the (steps, metrics) array of logged losses and accuracies.
    """
    with strategy.scope():
        model = cyclegan.CycleGAN(config)
        model.compile(total_steps=steps)
    for optimizer in model.optimizers.values():
        optimizer.epsilon = ADAM_EPSILON
    model.run_eagerly = run_eagerly
    set_network_weights(model, weights)
    losses = StepLosses()
    model.fit(fixed_dataset(config, steps), epochs=1, steps_per_epoch=steps, callbacks=[losses], verbose=0)
    return model, np.array(losses.rows)


def main(initial_weights_path, output_prefix):
    from monet_gan.training import strategy as strategy_lib

    strategy = strategy_lib.get_strategy("multiworker")
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or strategy.num_replicas_in_sync != 2:
        raise SystemExit(f"expected 2 MultiWorkerMirroredStrategy replicas, got {strategy_lib.describe(strategy)}")
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    with np.load(initial_weights_path) as archive:
        weights = dict(archive)
    model, losses = build_and_train(equivalence_config(), strategy, weights)
    np.savez(f"{output_prefix}{index}.npz", losses=losses, **network_weights(model))
    print(f"worker {index} done: {strategy_lib.describe(strategy)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
