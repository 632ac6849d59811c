"""Paints the competition photos with a trained generator into images.zip, ready for Kaggle.

    python submit.py --ckpt runs/main [--photos PATH] [--out images.zip] [--batch-size B]
                     [--limit N] [--quality Q]

The same command as `python -m monet_gan generate`; see monet_gan/submission.py.
"""

import os
import sys

# TensorFlow's C++ start-up chatter hides the program's own output on the command line.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tells `import monet_gan` that this is its command line: Keras is loaded by the command, later.
MONET_GAN_COMMAND_LINE = True

from monet_gan import cli  # noqa: E402  (after the environment is set, before TensorFlow loads)

if __name__ == "__main__":
    module_name, description = cli.COMMANDS["generate"]
    sys.exit(cli.run_command(module_name, "python submit.py", description, sys.argv[1:]))
