"""The quality curve: FID and KID of a fixed set of paintings at the end of training epochs.

The trainer (training/train.py) knows nothing of feature networks: the metrics stage comes after
it. This module builds a Keras callback that the command line (monet_gan/train_command.py) or the
notebook hands to `train.train(..., callbacks=[...])`. At the end of every
`quality_every_epochs`-th epoch, and of the last one, it

  1. paints the first `quality_photo_count` photos of the photo source (the same ones every
     time) with the weights the run paints with: the moving average when the config keeps one,
  2. computes FID and KID of those paintings against all the Monets, whose features are
     extracted once per run,
  3. adds `fid` and `kid` to the epoch's logs (so they land in log.csv and loss_curves.png;
     NA in the epochs between), and
  4. saves the painting weights as photo_to_monet_best.keras when the KID is the lowest so far
     (KID rather than FID: it is unbiased, and with 300 Monets FID's covariance estimate is not).

The feature network is the best one available (`choose_feature_network`): Inception when its
weights are found, the SqueezeNet proxy when its weights are given, else no curve at all.
"""

import csv
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from monet_gan import run_folder
from monet_gan.data import pipeline
from monet_gan.errors import UserError
from monet_gan.metrics import checkerboard
from monet_gan.metrics import features as features_module
from monet_gan.metrics import mifid
from monet_gan.training import exports
from monet_gan.training import jax_training

# KID subsets per evaluation. With 256 paintings and 300 Monets every subset holds all the
# paintings and 256 of the Monets, so a few subsets already average out the choice of Monets.
KID_SUBSETS = 10
PAINT_BATCH_SIZE = 16
FEATURE_BATCH_SIZE = 64


# ----------------------------------------------------------------------------------------------
# The feature network


def choose_feature_network(feature_weights=None):
    """The best feature network available, or None when there is none.

    Args:
      feature_weights: None to look in the Keras cache (~/.keras/models) for Inception's, then
        SqueezeNet's weights file; a weights file (SqueezeNet when its name says so, else
        Inception); or a folder holding either file (Inception preferred), e.g. a Kaggle dataset.

    Returns:
      (a `features.FeatureNetwork` or None, one line saying which network or why none).
    """
    inception_name = features_module.INCEPTION_WEIGHTS_FILE
    squeezenet_name = features_module.SQUEEZENET_WEIGHTS_FILE
    if feature_weights is None:
        folder, required = features_module._keras_cache_dir(), False
    elif os.path.isdir(feature_weights):
        folder, required = os.fspath(feature_weights), True
    elif os.path.isfile(feature_weights):
        name = "squeezenet" if "squeezenet" in os.path.basename(feature_weights).lower() else "inception"
        network = features_module.build_feature_network(name, weights=feature_weights)
        return network, f"quality curve: {network.description}"
    else:
        raise UserError(f"feature weights not found: {feature_weights}")
    for name, file_name in (("inception", inception_name), ("squeezenet", squeezenet_name)):
        path = os.path.join(folder, file_name)
        if os.path.isfile(path):
            network = features_module.build_feature_network(name, weights=path)
            return network, f"quality curve: {network.description}"
    message = f"no {inception_name} or {squeezenet_name} in {folder}"
    if required:
        raise UserError(f"feature weights: {message}")
    return None, (
        f"quality curve skipped: {message}; pass --feature-weights PATH (a weights file or a "
        "folder holding one) to record FID and KID per epoch and keep the best epoch's generator"
    )


# ----------------------------------------------------------------------------------------------
# FID against cached real statistics


class RealStatistics:
    """The real images' features and what FID needs of them, computed once per run.

    FID needs tr(sqrtm(C_g C_r)). With R = sqrtm(C_r), C_g C_r is similar to R C_g R, whose
    square root's trace is the sum of the singular values of X R / sqrt(n - 1), X being the n
    centered generated features. With the thin SVD Y = U S V^T of the m centered real features,
    R = V S V^T / sqrt(m - 1), so those singular values are the ones of the n x k matrix
    X V S / sqrt((m - 1)(n - 1)), k = min(m, d). No d x d matrix is ever formed or decomposed:
    with 2,048 Inception features, 256 paintings and 300 Monets an evaluation's FID takes a
    fraction of a second where scipy's general matrix square root (mifid.fid, Kaggle's
    formula, the same value) takes over a minute on 2 CPU cores.
    """

    def __init__(self, real_features):
        self.features = np.asarray(real_features, np.float64)
        if self.features.ndim != 2 or len(self.features) < 2:
            raise ValueError(f"need (N >= 2, D) real features, got shape {self.features.shape}")
        self.mean = self.features.mean(axis=0)
        centered = self.features - self.mean
        _, singular_values, right_vectors = np.linalg.svd(centered, full_matrices=False)
        scale = np.sqrt(len(self.features) - 1)
        self.trace = float(np.sum(singular_values**2) / scale**2)
        # V S / sqrt(m - 1): generated features times this give X R V.
        self.root_factor = right_vectors.T * (singular_values / scale)

    def fid(self, generated_features):
        generated = np.asarray(generated_features, np.float64)
        if generated.ndim != 2 or len(generated) < 2:
            raise ValueError(f"need (N >= 2, D) generated features, got shape {generated.shape}")
        mean = generated.mean(axis=0)
        centered = generated - mean
        scale = np.sqrt(len(generated) - 1)
        trace = float(np.sum(centered**2) / scale**2)
        trace_root = float(np.sum(np.linalg.svd(centered @ self.root_factor / scale, compute_uv=False)))
        difference = mean - self.mean
        return float(difference @ difference + trace + self.trace - 2 * trace_root)

    def kid(self, generated_features, seed=0):
        return mifid.kernel_inception_distance(
            generated_features, self.features, num_subsets=KID_SUBSETS, seed=seed
        )[0]


# ----------------------------------------------------------------------------------------------
# The callback


def best_kid_logged(log_path):
    """(lowest KID, its 0-based epoch) among the rows of log.csv, or (inf, None)."""
    best, best_epoch = math.inf, None
    if not os.path.exists(log_path):
        return best, best_epoch
    with open(log_path, newline="") as file:
        for row in csv.DictReader(file):
            try:
                kid = float(row.get("kid") or "nan")
            except ValueError:
                continue
            if kid < best:
                best, best_epoch = kid, int(row["epoch"])
    return best, best_epoch


class QualityCurve(keras.callbacks.Callback):
    """Adds `fid`, `kid` and `checkerboard_db` to the logs of evaluated epochs; keeps the best epoch.

    `checkerboard_db` is the paintings' checkerboard score (metrics/checkerboard.py) at the
    generator's own resolution, minus the Monets' at that resolution: the grid that stride-2
    transposed convolutions can leave, measured before any resize or JPEG encoding.

    Args:
      photos: float32 (N, S, S, 3) photos in [-1, 1], the same every epoch.
      monet_source: the real Monets (folder, TFRecords, glob or zip).
      network: a `features.FeatureNetwork`.
      run_dir: the run folder; the best export goes to its photo_to_monet_best.keras.
      every_epochs: evaluate at the end of every this many epochs, and of the last one.
    """

    def __init__(self, photos, monet_source, network, run_dir, every_epochs=1):
        super().__init__()
        photos = np.asarray(photos, np.float32)
        if photos.ndim != 4 or len(photos) < 2 or photos.shape[-1] != 3:
            raise ValueError(f"photos must be (N >= 2, S, S, 3) images, got shape {photos.shape}")
        if not isinstance(every_epochs, int) or every_epochs < 1:
            raise ValueError(f"every_epochs must be a positive integer, got every_epochs={every_epochs!r}")
        self.photos = photos
        self.monet_source = monet_source
        self.network = network
        self.run_dir = run_dir
        self.every_epochs = every_epochs
        self.real = None
        self.seconds = []

    def on_train_begin(self, logs=None):
        if self.real is None:
            start = time.perf_counter()
            self.real = RealStatistics(features_module.extract_features(
                self.monet_source, self.network, batch_size=FEATURE_BATCH_SIZE, progress=False
            ))
            size = self.photos.shape[1]
            monets = pipeline.load_images(self.monet_source, size).batch(FEATURE_BATCH_SIZE)
            meter = checkerboard.CheckerboardMeter()
            for batch in monets.as_numpy_iterator():
                meter.update((batch + 1.0) * 127.5)
            self.real_checkerboard_db = meter.result()
            print(f"quality curve: {len(self.real.features)} Monet features in "
                  f"{time.perf_counter() - start:.1f} s ({self.network.name})")
        log_path = os.path.join(self.run_dir, run_folder.LOG_FILE)
        self.best_kid, self.best_epoch = best_kid_logged(log_path)
        if keras.backend.backend() == "tensorflow":
            self._paint = tf.function(
                lambda images: self.model.photo_to_monet(images, training=False), reduce_retracing=True
            )
        else:
            # JAX: a compiled forward pass that reads the generator's weights (the averaged ones
            # inside `painting_weights`) at every call.
            self._paint = jax_training.forward_function(self.model.photo_to_monet)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        last = epoch + 1 == self.params.get("epochs")
        if (epoch + 1) % self.every_epochs and not last:
            # Every row carries the columns, so log.csv's header has them from the first row on.
            logs.update(fid=math.nan, kid=math.nan, checkerboard_db=math.nan)
            return
        start = time.perf_counter()
        with exports.painting_weights(self.model) as generator:
            paintings = self.paint()
            generated = self.network(paintings)
            fid_value, kid_value = self.real.fid(generated), self.real.kid(generated)
            grid_db = checkerboard.score_images(paintings) - self.real_checkerboard_db
            improved = kid_value < self.best_kid
            if improved:
                self.best_kid, self.best_epoch = kid_value, epoch
                exports.save_atomically(
                    generator, os.path.join(self.run_dir, run_folder.BEST_GENERATOR_FILE)
                )
        seconds = time.perf_counter() - start
        self.seconds.append(seconds)
        logs.update(fid=fid_value, kid=kid_value, checkerboard_db=grid_db)
        print(f"epoch {epoch + 1}: FID {fid_value:.2f}, KID {kid_value:.4f}, checkerboard "
              f"{grid_db:+.1f} dB on {len(self.photos)} "
              f"paintings ({self.network.name}, {seconds:.1f} s); best KID at epoch "
              f"{self.best_epoch + 1}" + (", saved" if improved else ""))

    def paint(self):
        """The fixed photos painted, as float32 0-255 images for the feature network."""
        batches = []
        for start in range(0, len(self.photos), PAINT_BATCH_SIZE):
            painted = self._paint(self.photos[start:start + PAINT_BATCH_SIZE])
            batches.append((np.asarray(painted, np.float32) + 1.0) * 127.5)
        return np.concatenate(batches)


def quality_callback(config, photo_source, monet_source, run_dir, feature_weights=None):
    """The QualityCurve a config asks for, or None (curve off, or no feature network; says why).

    Args:
      config: the run's TrainConfig (quality_photo_count, quality_every_epochs, image_size,
        feature_weights).
      photo_source, monet_source: the run's data sources.
      run_dir: the run folder.
      feature_weights: overrides config.feature_weights (see `choose_feature_network`).
    """
    if config.quality_photo_count == 0:
        print("quality curve off (quality_photo_count=0)")
        return None
    network, message = choose_feature_network(feature_weights or config.feature_weights)
    print(message)
    if network is None:
        return None
    photos = np.stack(list(
        pipeline.load_images(photo_source, config.image_size)
        .take(config.quality_photo_count).as_numpy_iterator()
    ))
    return QualityCurve(photos, monet_source, network, run_dir, config.quality_every_epochs)
