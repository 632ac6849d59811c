"""MiFID, FID and KID of generated images against real Monets, computed as Kaggle does.

The formula follows Kaggle's scorer exactly (see the project README, "Scoring locally: MiFID"):

- FID from the features' means and unbiased covariances (`rowvar=False`), with a 1e-6 diagonal
  retry when the matrix square root is not finite; a large imaginary part is an error.
- Memorization distance: rows whose sum is 0 dropped, rows L2-normalized,
  d_ij = 1 - |cos(g_i, r_j)|, minimum over real j, mean over generated i.
- d_thr = d if d < 0.1 else 1; MiFID = FID / (d_thr + 1e-14).

KID (the unbiased polynomial-kernel MMD of Binkowski et al. 2018) is reported beside FID: with
only 300 real Monets FID's covariance estimate is biased, and KID compares models more stably.

Command line:
  python -m monet_gan mifid images.zip --real monet_tfrec [--feature-net squeezenet --weights W]
"""

import json
import os
import warnings

import numpy as np
import scipy.linalg

from monet_gan.errors import UserError
from monet_gan.metrics import checkerboard
from monet_gan.metrics import features as features_module

MEMORIZATION_THRESHOLD = 0.1
MIFID_EPSILON = 1e-14
COVARIANCE_OFFSET = 1e-6
IMAGINARY_TOLERANCE = 1e-3
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000

# The feature extraction is re-exported so the metric's pieces can be found in one module.
extract_features = features_module.extract_features


# ----------------------------------------------------------------------------------------------
# The metric's pieces


def feature_statistics(features):
    """The mean and unbiased (N - 1) covariance of (N, D) features, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need (N >= 2, D) features, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mean1, covariance1, mean2, covariance2):
    """The Frechet distance between two Gaussians, as Kaggle's scorer computes it."""
    difference = mean1 - mean2
    with warnings.catch_warnings():
        # With fewer images than features the covariances are singular by construction; SciPy
        # warns about it, and the finiteness check below handles it as Kaggle's scorer does.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covariance_mean = scipy.linalg.sqrtm(covariance1 @ covariance2)
        if not np.isfinite(covariance_mean).all():
            # A singular product may have no finite square root; a tiny ridge on both fixes it.
            offset = np.eye(covariance1.shape[0]) * COVARIANCE_OFFSET
            covariance_mean = scipy.linalg.sqrtm((covariance1 + offset) @ (covariance2 + offset))
    if np.iscomplexobj(covariance_mean):
        # Round-off makes tiny imaginary parts; a large one means the statistics are broken.
        if not np.allclose(np.diagonal(covariance_mean).imag, 0, atol=IMAGINARY_TOLERANCE):
            largest = np.max(np.abs(covariance_mean.imag))
            raise ValueError(f"FID: the covariance square root has imaginary part {largest}")
        covariance_mean = covariance_mean.real
    return float(
        difference @ difference
        + np.trace(covariance1) + np.trace(covariance2) - 2 * np.trace(covariance_mean)
    )


def fid(generated_features, real_features):
    """The Frechet Inception Distance between two (N, D) feature sets."""
    return frechet_distance(
        *feature_statistics(generated_features), *feature_statistics(real_features)
    )


def _normalized_nonzero_rows(features):
    features = np.asarray(features, dtype=np.float64)
    features = features[features.sum(axis=1) != 0]
    return features / np.linalg.norm(features, axis=1, keepdims=True)


def memorization_distance(generated_features, real_features, chunk_size=1024):
    """Mean over generated images of the smallest 1 - |cos| to any real image.

    Rows whose features sum to 0 are dropped first, as Kaggle's scorer does. The distance matrix
    is built `chunk_size` generated rows at a time so memory stays bounded.
    """
    generated = _normalized_nonzero_rows(generated_features)
    real = _normalized_nonzero_rows(real_features)
    if len(generated) == 0 or len(real) == 0:
        raise ValueError("memorization distance: every feature row sums to 0 on one side")
    minimum_distances = [
        np.min(1.0 - np.abs(generated[start:start + chunk_size] @ real.T), axis=1)
        for start in range(0, len(generated), chunk_size)
    ]
    return float(np.mean(np.concatenate(minimum_distances)))


def thresholded_distance(distance, threshold=MEMORIZATION_THRESHOLD):
    """Kaggle's d_thr: the distance itself when below the threshold (memorizing), else 1."""
    return distance if distance < threshold else 1.0


def mifid_from_parts(fid_value, distance, threshold=MEMORIZATION_THRESHOLD):
    """MiFID = FID / (d_thr + 1e-14)."""
    return fid_value / (thresholded_distance(distance, threshold) + MIFID_EPSILON)


def kernel_inception_distance(
    generated_features, real_features, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE,
    seed=0,
):
    """KID: the unbiased MMD^2 with kernel (x.y / d + 1)^3, averaged over random subsets.

    Each subset draws min(subset_size, n_generated, n_real) rows from each side without
    replacement (Binkowski et al. 2018).

    Returns:
      (mean, standard deviation) over the subsets.
    """
    generated = np.asarray(generated_features, dtype=np.float64)
    real = np.asarray(real_features, dtype=np.float64)
    size = min(subset_size, len(generated), len(real))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples on each side, got {size}")
    dimension = generated.shape[1]
    random = np.random.default_rng(seed)
    estimates = []
    for _ in range(num_subsets):
        x = generated[random.choice(len(generated), size, replace=False)]
        y = real[random.choice(len(real), size, replace=False)]
        kernel_xx = (x @ x.T / dimension + 1) ** 3
        kernel_yy = (y @ y.T / dimension + 1) ** 3
        kernel_xy = (x @ y.T / dimension + 1) ** 3
        # The unbiased estimator leaves out the diagonal of the within-set kernels.
        within = (kernel_xx.sum() - np.trace(kernel_xx) + kernel_yy.sum() - np.trace(kernel_yy))
        estimates.append(within / (size * (size - 1)) - 2 * kernel_xy.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def metrics_from_features(generated_features, real_features, kid_seed=0):
    """Every number of the check from two feature sets, as a dict (see `score`)."""
    for side, feature_set in (("generated", generated_features), ("real", real_features)):
        if len(feature_set) < 2:
            raise UserError(f"need at least 2 {side} images to compare, got {len(feature_set)}")
    fid_value = fid(generated_features, real_features)
    distance = memorization_distance(generated_features, real_features)
    kid_mean, kid_std = kernel_inception_distance(generated_features, real_features, seed=kid_seed)
    return {
        "fid": fid_value,
        "kid": kid_mean,
        "kid_std": kid_std,
        "memorization_distance": distance,
        "memorization_threshold": MEMORIZATION_THRESHOLD,
        "memorization_penalty": bool(distance < MEMORIZATION_THRESHOLD),
        "thresholded_distance": thresholded_distance(distance),
        "mifid": mifid_from_parts(fid_value, distance),
        "num_generated": int(len(generated_features)),
        "num_real": int(len(real_features)),
    }


def score(generated, real, feature_net="inception", weights=None, batch_size=50, network=None,
          progress=True):
    """Scores generated images against real ones: FID, KID, memorization distance and MiFID.

    Args:
      generated: images.zip or a folder of images.
      real: a folder of images, TFRecords in Kaggle's schema (e.g. monet_tfrec), a glob or a zip.
      feature_net: "inception" (MiFID with Keras' stand-in weights) or "squeezenet" (a proxy).
      weights: a local weights file; None for the defaults of `build_feature_network`.
      batch_size: images per forward pass.
      network: an already built `features.FeatureNetwork`, to reuse it across calls (then
        feature_net and weights are ignored).
      progress: show tqdm progress bars.

    Returns:
      A dict with fid, kid, kid_std, memorization_distance, memorization_threshold,
      memorization_penalty (bool), thresholded_distance, mifid, num_generated, num_real,
      feature_net, feature_network (a description), is_mifid (False for proxies), generated
      and real.
    """
    for side, source in (("generated", generated), ("real", real)):
        count = features_module.count_source_images(source)
        if count < 2:
            raise UserError(f"{source}: need at least 2 {side} images, found {count}")
    if network is None:
        network = features_module.build_feature_network(feature_net, weights=weights)
    meters = {"generated": checkerboard.CheckerboardMeter(), "real": checkerboard.CheckerboardMeter()}
    generated_features = extract_features(
        generated, network, batch_size=batch_size, description="generated", progress=progress,
        meter=meters["generated"],
    )
    real_features = extract_features(
        real, network, batch_size=batch_size, description="real", progress=progress,
        meter=meters["real"],
    )
    result = metrics_from_features(generated_features, real_features)
    result.update(checkerboard.compare(meters["generated"].result(), meters["real"].result()))
    result.update(
        feature_net=network.name,
        feature_network=network.description,
        is_mifid=network.is_mifid_network,
        generated=os.fspath(generated),
        real=os.fspath(real),
    )
    return result


# ----------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser):
    parser.add_argument("generated", help="images.zip or a folder of generated images")
    parser.add_argument(
        "--real", required=True,
        help="real Monets: a folder of images, TFRecords (e.g. monet_tfrec), a glob or a zip",
    )
    parser.add_argument(
        "--feature-net", choices=features_module.FEATURE_NETWORKS, default="inception",
        help="inception: Keras' stand-in for Kaggle's network (default); squeezenet: a proxy "
        "whose numbers are not MiFID, for machines without Inception weights",
    )
    parser.add_argument(
        "--weights", default=None, metavar="PATH",
        help="local weights file (offline use, e.g. a Kaggle dataset): Keras' "
        f"{features_module.INCEPTION_WEIGHTS_FILE} or {features_module.SQUEEZENET_WEIGHTS_FILE}",
    )
    parser.add_argument("--batch-size", type=int, default=50, help="images per forward pass")
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")


def format_report(result):
    """The human-readable report of a `score` result, one number per line."""
    name = "MiFID" if result["is_mifid"] else "MiFID-like (proxy, NOT MiFID)"
    penalty = (
        f"applied: d < {result['memorization_threshold']}, FID divided by d"
        if result["memorization_penalty"]
        else f"not applied: d >= {result['memorization_threshold']}"
    )
    lines = [
        f"Feature network: {result['feature_network']}",
        f"Generated: {result['num_generated']} images from {result['generated']}",
        f"Real:      {result['num_real']} images from {result['real']}",
        f"FID:                   {result['fid']:.3f}",
        f"KID:                   {result['kid']:.5f} +- {result['kid_std']:.5f}",
        f"Memorization distance: {result['memorization_distance']:.4f}",
        f"Memorization penalty:  {penalty}",
        f"{name}: {result['mifid']:.3f}",
        f"Checkerboard:          {result['checkerboard_db']:+.2f} dB "
        f"({result['checkerboard_excess_db']:+.2f} dB over the real images' "
        f"{result['checkerboard_real_db']:+.2f} dB; about 0 means no upsampling grid)",
    ]
    if result["feature_net"] == "inception" and result["is_mifid"]:
        lines.append(
            "Note: Keras' InceptionV3 weights stand in for Kaggle's 2015 graph; expect a few "
            "points of difference from the leaderboard. Use this to rank models."
        )
    elif not result["is_mifid"]:
        lines.append("Note: proxy feature space; compare models with it, not with the leaderboard.")
    return "\n".join(lines)


def run(args):
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {args.batch_size}")
    result = score(
        args.generated, args.real, feature_net=args.feature_net, weights=args.weights,
        batch_size=args.batch_size,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_report(result))
        label = "MiFID" if result["is_mifid"] else "proxy MiFID"
        print(
            f"scored {result['num_generated']} generated against {result['num_real']} real "
            f"images with {result['feature_net']}: {label} {result['mifid']:.3f}"
        )
    return 0
