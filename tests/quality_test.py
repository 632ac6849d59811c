"""The quality curve: FID against cached statistics, the feature network's choice, and a real run."""

import csv
import math
import os

import keras
import numpy as np
import pytest

from monet_gan import run_folder
from monet_gan.errors import UserError
from monet_gan.generation import trained_generator
from monet_gan.metrics import mifid
from monet_gan.metrics import quality
from monet_gan.training import config as config_lib
from monet_gan.training import train as train_lib


@pytest.mark.parametrize("count, dimension", [(300, 32), (40, 96)])
def test_fid_against_cached_real_statistics_is_kaggles_fid(count, dimension):
    # Enough samples for full-rank covariances, and fewer samples than features (singular ones).
    random = np.random.default_rng(0)
    real = random.gamma(2.0, size=(count, dimension))
    generated = random.gamma(2.0, size=(count + 7, dimension)) * 1.3 + 0.2
    statistics = quality.RealStatistics(real)
    expected = mifid.fid(generated, real)
    assert statistics.fid(generated) == pytest.approx(expected, rel=1e-3, abs=1e-6)
    assert statistics.fid(real) == pytest.approx(0.0, abs=1e-6 * expected)


def test_choice_of_the_feature_network(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    network, message = quality.choose_feature_network(None)
    assert network is None and message.startswith("quality curve skipped: no ")
    with pytest.raises(UserError, match="feature weights not found: .*nowhere"):
        quality.choose_feature_network(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="no inception_v3.* or squeezenet"):
        quality.choose_feature_network(str(tmp_path))


def test_no_callback_when_the_curve_is_off_or_no_network_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    config = config_lib.TrainConfig.smoke()
    assert quality.quality_callback(config.replace(quality_photo_count=0), "p", "m", str(tmp_path)) is None
    assert quality.quality_callback(config, "p", "m", str(tmp_path)) is None
    with pytest.raises(ValueError, match="quality_photo_count=-1"):
        config.replace(quality_photo_count=-1)


def test_the_best_kid_so_far_is_read_back_from_the_log(tmp_path):
    path = tmp_path / "log.csv"
    assert quality.best_kid_logged(str(path)) == (math.inf, None)
    path.write_text("epoch,fid,kid,loss\n0,10,0.5,1\n1,nan,nan,1\n2,9,0.25,1\n3,8,0.3,1\n4,NA,NA,1\n")
    assert quality.best_kid_logged(str(path)) == (0.25, 2)


@pytest.mark.real_data
@pytest.mark.slow
def test_a_tiny_real_run_logs_fid_and_kid_and_keeps_the_best_epoch(shared_data, shared_weights, tmp_path):
    run_dir = str(tmp_path / "run")
    photos, monets = str(shared_data / "photo_jpg"), str(shared_data / "monet_tfrec")
    config = config_lib.TrainConfig.smoke(
        epochs=3, steps_per_epoch=2, seed=0, quality_photo_count=16, quality_every_epochs=2,
        feature_weights=os.path.dirname(shared_weights),
    )
    callback = quality.quality_callback(config, photos, monets, run_dir)
    assert isinstance(callback, quality.QualityCurve) and callback.network.name == "squeezenet"
    summary = train_lib.train(config, run_dir, photo_source=photos, monet_source=monets, verbose=0,
                              callbacks=[callback])
    with open(os.path.join(run_dir, run_folder.LOG_FILE)) as file:
        rows = list(csv.DictReader(file))
    # Epochs 2 (every second) and 3 (the last) are evaluated; epoch 1 carries NaN.
    evaluated = [math.isfinite(float(row["kid"])) for row in rows]
    assert evaluated == [False, True, True]
    assert all(float(row["fid"]) > 0 for row, done in zip(rows, evaluated) if done)
    # The checkerboard excess is logged beside them, NaN where FID is.
    assert [math.isfinite(float(row["checkerboard_db"])) for row in rows] == evaluated
    assert len(callback.real.features) == 300
    best_path = os.path.join(run_dir, run_folder.BEST_GENERATOR_FILE)
    best_epoch = min((float(row["kid"]), int(row["epoch"])) for row in rows[1:])[1]
    assert callback.best_epoch == best_epoch and os.path.isfile(best_path)
    # The best export is what a run directory paints with by default; the others on request.
    best = trained_generator.load_generator(run_dir)
    for actual, wanted in zip(best.get_weights(), keras.saving.load_model(best_path).get_weights()):
        np.testing.assert_array_equal(actual, wanted)
    last = trained_generator.load_generator(run_dir, choice="last")
    for actual, wanted in zip(last.get_weights(), summary["model"].photo_to_monet.get_weights()):
        np.testing.assert_array_equal(actual, wanted)
    assert os.path.isfile(os.path.join(run_dir, run_folder.LOSS_CURVES_FILE))
