"""The train command: the trainer's flags plus the quality curve's."""

import argparse

from monet_gan import cli
from monet_gan import train_command


def test_the_train_command_is_this_module_and_takes_the_quality_flags():
    assert cli.COMMANDS["train"][0] == "monet_gan.train_command"
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    args = parser.parse_args([
        "--run-dir", "runs/x", "--smoke", "--epochs", "3", "--feature-weights", "weights",
        "--quality-photos", "32", "--quality-every", "2",
    ])
    assert (args.feature_weights, args.quality_photos, args.quality_every) == ("weights", 32, 2)
    defaults = parser.parse_args(["--run-dir", "runs/x"])
    assert (defaults.feature_weights, defaults.quality_photos, defaults.quality_every) == (None, None, None)
