"""The `generate` command (and submit.py): paint images.zip, then optionally score it.

    python submit.py --ckpt runs/main [--mifid --feature-net squeezenet --weights PATH]

Painting belongs to the generation stage and scoring to the metric stage after it; this
command joins the two, so neither stage imports the other's command line.
"""

from monet_gan.data import sources
from monet_gan.generation import submission


def add_arguments(parser):
    submission.add_arguments(parser)
    parser.add_argument("--mifid", action="store_true",
                        help="score the zip with the local MiFID afterwards")
    parser.add_argument("--mifid-real", metavar="PATH",
                        help="real Monets for --mifid (default: the Monets of the data "
                        "directory found)")
    parser.add_argument("--feature-net", default="inception", help="feature network for --mifid")
    parser.add_argument("--weights", metavar="PATH",
                        help="feature network weights file for --mifid")


def run(args):
    submission.run(args)
    if args.mifid:
        # Imported only when asked for: it loads a feature network.
        from monet_gan.metrics import mifid

        real = args.mifid_real or sources.domain_source(sources.find_data_dir(), "monet")
        score = mifid.score(args.out, real, feature_net=args.feature_net, weights=args.weights)
        print(mifid.format_report(score))
    return 0
