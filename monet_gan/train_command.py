"""The `train` command: the trainer with the quality curve plugged in.

    python -m monet_gan train --data-dir DATA --run-dir runs/main [--feature-weights PATH]

training/train.py trains; metrics/quality.py scores paintings. The metrics stage comes after
training, so the trainer cannot build the quality curve itself: this module, which belongs to
no stage, builds it and passes it to `train.train` as a callback.
"""

from monet_gan.metrics import quality
from monet_gan.training import strategy as strategy_lib
from monet_gan.training import train as train_lib


def add_arguments(parser):
    train_lib.add_arguments(parser)
    parser.add_argument(
        "--feature-weights", metavar="PATH",
        help="feature network weights for the per-epoch FID/KID curve: Inception's or SqueezeNet's "
        "weights file, or a folder holding one (default: the Keras cache; none found: no curve)",
    )
    parser.add_argument("--quality-photos", type=int, metavar="N",
                        help="photos painted and scored per evaluation (default 256; 0: no curve)")
    parser.add_argument("--quality-every", type=int, metavar="EPOCHS",
                        help="evaluate every this many epochs, and after the last (default 1)")


def run(args):
    config = train_lib.config_from_args(args).replace(
        quality_photo_count=args.quality_photos, quality_every_epochs=args.quality_every,
        feature_weights=args.feature_weights,
    )
    # The strategy first, as train() would: a broken TF_CONFIG is the error to report.
    strategy = strategy_lib.get_strategy(args.strategy)
    photo_source, monet_source = train_lib.resolve_sources(args.data_dir, args.photos, args.monets)
    callback = quality.quality_callback(config, photo_source, monet_source, args.run_dir)
    train_lib.train(
        config, args.run_dir, photo_source=photo_source, monet_source=monet_source,
        strategy=strategy, time_budget=args.time_budget, callbacks=[callback] if callback else [],
    )
