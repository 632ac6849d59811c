"""Tests for monet_gan.metrics.mifid: the metric's math, KID, and the check end to end on real images."""

import io
import json
import math
import os
import zipfile

import numpy as np
import PIL.Image
import pytest
import scipy.linalg

from monet_gan import cli
from monet_gan.data import pipeline
from monet_gan.errors import UserError
from monet_gan.metrics import features
from monet_gan.metrics import mifid

# ----------------------------------------------------------------------------------------------
# FID


def test_identical_feature_sets_give_fid_zero():
    values = np.random.default_rng(0).normal(size=(400, 16))
    assert abs(mifid.fid(values, values)) < 1e-8


def test_frechet_distance_matches_the_closed_form_for_known_gaussians():
    # For commuting covariances, Tr(S1 + S2 - 2 sqrt(S1 S2)) = |sqrt(S1) - sqrt(S2)|_F^2.
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))
    variances1, variances2 = np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.0, 1.0, 0.25, 9.0])
    covariance1 = rotation @ np.diag(variances1) @ rotation.T
    covariance2 = rotation @ np.diag(variances2) @ rotation.T
    mean1, mean2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = 1.0 + 4.0 + np.sum((np.sqrt(variances1) - np.sqrt(variances2)) ** 2)
    assert mifid.frechet_distance(mean1, covariance1, mean2, covariance2) == pytest.approx(expected)


def test_fid_of_gaussian_samples_approaches_the_closed_form():
    random = np.random.default_rng(2)
    mean1, mean2 = np.zeros(3), np.array([1.0, 0.0, -1.0])
    covariance1, covariance2 = np.diag([1.0, 4.0, 1.0]), np.diag([1.0, 1.0, 9.0])
    samples1 = random.multivariate_normal(mean1, covariance1, size=50_000)
    samples2 = random.multivariate_normal(mean2, covariance2, size=50_000)
    expected = 2.0 + (2.0 - 1.0) ** 2 + (1.0 - 3.0) ** 2
    assert mifid.fid(samples1, samples2) == pytest.approx(expected, abs=0.1)


def test_fid_uses_unbiased_covariances():
    values1 = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    values2 = np.zeros((3, 2)) + [[1.0, 1.0]]
    values2[0] += 1.0
    expected = mifid.frechet_distance(
        values1.mean(0), np.cov(values1, rowvar=False, ddof=1),
        values2.mean(0), np.cov(values2, rowvar=False, ddof=1),
    )
    assert mifid.fid(values1, values2) == pytest.approx(expected)


def test_a_non_finite_square_root_is_retried_with_a_diagonal_offset(monkeypatch):
    calls = []
    real_sqrtm = scipy.linalg.sqrtm

    def first_call_fails(matrix):
        calls.append(matrix.copy())
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(scipy.linalg, "sqrtm", first_call_fails)
    covariance = np.diag([1.0, 2.0])
    value = mifid.frechet_distance(np.zeros(2), covariance, np.zeros(2), covariance)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (covariance + 1e-6 * np.eye(2)) @ (covariance + 1e-6 * np.eye(2)))
    assert value == pytest.approx(-2 * 2 * 1e-6)


def test_a_large_imaginary_part_fails_loudly(monkeypatch):
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda matrix: matrix + 0.5j * np.eye(len(matrix)))
    with pytest.raises(ValueError, match="imaginary part 0.5"):
        mifid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda matrix: matrix + 1e-9j * np.eye(len(matrix)))
    assert mifid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2)) == pytest.approx(0)


# ----------------------------------------------------------------------------------------------
# Memorization distance and MiFID


def test_copies_of_real_features_are_penalised():
    random = np.random.default_rng(3)
    real = np.abs(random.normal(size=(50, 32)))
    generated = real[:20] + random.normal(scale=1e-3, size=(20, 32))
    distance = mifid.memorization_distance(generated, real)
    assert distance < 0.1
    metrics = mifid.metrics_from_features(generated, real)
    assert metrics["memorization_penalty"] and metrics["thresholded_distance"] == distance
    assert metrics["mifid"] == pytest.approx(metrics["fid"] / (distance + 1e-14))


def test_unrelated_features_are_not_penalised():
    random = np.random.default_rng(4)
    metrics = mifid.metrics_from_features(random.normal(size=(30, 64)), random.normal(size=(30, 64)))
    assert metrics["memorization_distance"] >= 0.1 and not metrics["memorization_penalty"]
    assert metrics["mifid"] == pytest.approx(metrics["fid"])


def test_the_absolute_cosine_catches_anti_correlated_copies():
    real = np.random.default_rng(5).normal(size=(10, 8))
    # cos = -1: without the absolute value d would be 2, with it the copies cost d = 0.
    assert mifid.memorization_distance(-real, real) == pytest.approx(0.0, abs=1e-12)


def test_zero_sum_rows_are_dropped():
    random = np.random.default_rng(6)
    real = np.abs(random.normal(size=(10, 4)))
    generated = np.abs(random.normal(size=(5, 4)))
    expected = mifid.memorization_distance(generated, real)
    # A row of zeros (and one whose entries cancel) would be NaN after normalizing, or would
    # pull the mean; both must be left out on either side.
    zero_rows = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 2.0, -2.0]])
    padded_generated = np.concatenate([generated, zero_rows])
    padded_real = np.concatenate([zero_rows, real])
    assert mifid.memorization_distance(padded_generated, padded_real) == pytest.approx(expected)


def test_threshold_and_mifid_formula():
    assert mifid.thresholded_distance(0.05) == 0.05
    assert mifid.thresholded_distance(0.1) == 1.0
    assert mifid.mifid_from_parts(10.0, 0.05) == pytest.approx(200.0)
    assert mifid.mifid_from_parts(10.0, 0.5) == pytest.approx(10.0)


def test_fewer_than_two_images_on_a_side_is_a_user_error():
    with pytest.raises(UserError, match="at least 2 generated"):
        mifid.metrics_from_features(np.ones((1, 4)), np.ones((5, 4)))


# ----------------------------------------------------------------------------------------------
# KID


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted_ones():
    random = np.random.default_rng(7)
    sample1, sample2 = random.normal(size=(400, 16)), random.normal(size=(400, 16))
    same, same_std = mifid.kernel_inception_distance(sample1, sample2, num_subsets=20, subset_size=200)
    shifted, _ = mifid.kernel_inception_distance(sample1, sample2 + 0.5, num_subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 0.05 and shifted > 20 * abs(same)


def test_kid_estimator_is_unbiased_mmd_with_the_cubic_kernel():
    random = np.random.default_rng(8)
    x, y = random.normal(size=(5, 3)), random.normal(size=(5, 3)) + 1
    kernel = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    within = sum(kernel(x[i], x[j]) + kernel(y[i], y[j]) for i in range(5) for j in range(5) if i != j)
    across = sum(kernel(x[i], y[j]) for i in range(5) for j in range(5))
    expected = within / 20 - 2 * across / 25
    # With subsets as large as the sets, every subset is the whole set.
    value, spread = mifid.kernel_inception_distance(x, y, num_subsets=3, subset_size=1000)
    assert value == pytest.approx(expected) and spread == pytest.approx(0, abs=1e-9)


# ----------------------------------------------------------------------------------------------
# End to end on real images


def link_images(source_folder, names, folder):
    """A folder of symbolic links to real images: the shared files are read in place."""
    folder.mkdir()
    for name in names:
        os.symlink(source_folder / name, folder / name)
    return folder


def zip_images(source_folder, names, path):
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.write(source_folder / name, name)
    return path


@pytest.fixture(scope="module")
def random_inception():
    return features.build_feature_network("inception", random_init_for_tests=True)


@pytest.fixture(scope="module")
def monet_subset(shared_data, tmp_path_factory):
    names = sorted(os.listdir(shared_data / "monet_jpg"))[:8]
    return link_images(shared_data / "monet_jpg", names, tmp_path_factory.mktemp("real") / "monets")


@pytest.mark.real_data
@pytest.mark.slow
def test_cli_scores_monets_against_themselves_end_to_end(
    shared_data, monet_subset, random_inception, tmp_path, monkeypatch, capsys
):
    # The generated zip holds the very Monets of the real folder: FID ~ 0 and the penalty.
    # (One run only: the 2048-d matrix square root alone takes ~15 s on 2 cores.)
    generated = zip_images(monet_subset, sorted(os.listdir(monet_subset)), tmp_path / "images.zip")
    monkeypatch.setattr(features, "build_feature_network", lambda *args, **kwargs: random_inception)
    arguments = ["mifid", str(generated), "--real", str(monet_subset), "--batch-size", "5", "--json"]
    assert cli.main(arguments) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_generated"] == 8 and result["num_real"] == 8
    assert result["feature_net"] == "inception" and result["is_mifid"] is False
    for key in ("fid", "kid", "kid_std", "memorization_distance", "thresholded_distance", "mifid"):
        assert math.isfinite(result[key]), key
    values = features.extract_features(monet_subset, random_inception, progress=False)
    scale = np.trace(np.cov(values.astype(np.float64), rowvar=False))
    # PIL (zips) and TensorFlow (folders) decode JPEGs a level or two apart, so "~ 0" is
    # relative to the features' spread; photos against these Monets score ~0.5 of it.
    assert abs(result["fid"]) < 1e-2 * scale
    assert result["memorization_distance"] < 1e-3 and result["memorization_penalty"]
    assert result["mifid"] == pytest.approx(result["fid"] / (result["thresholded_distance"] + 1e-14))
    assert "random weights" in mifid.format_report(result)


@pytest.mark.real_data
def test_squeezenet_separates_monets_from_photos(shared_data, shared_weights, tmp_path):
    network = features.build_feature_network("squeezenet", weights=shared_weights)
    # Real: one shard of Kaggle's TFRecords; generated: other Monets (a folder) or photos (a zip).
    shard = shared_data / "monet_tfrec" / "monet00-60.tfrec"
    shard_names = {name.decode() for name, _ in pipeline.load_images(shard, with_names=True).as_numpy_iterator()}
    other_monets = [
        name for name in sorted(os.listdir(shared_data / "monet_jpg")) if name[:-4] not in shard_names
    ][:50]
    monet_folder = link_images(shared_data / "monet_jpg", other_monets, tmp_path / "monets")
    photo_names = sorted(os.listdir(shared_data / "photo_jpg"))[:50]
    photo_zip = zip_images(shared_data / "photo_jpg", photo_names, tmp_path / "photos.zip")

    real = features.extract_features(shard, network, progress=False)
    assert real.shape == (60, 512) and real.min() >= 0
    monets = mifid.metrics_from_features(features.extract_features(monet_folder, network, progress=False), real)
    photos = mifid.metrics_from_features(features.extract_features(photo_zip, network, progress=False), real)
    assert monets["fid"] < 0.6 * photos["fid"]
    assert monets["kid"] < 0.1 * photos["kid"]
    assert not monets["memorization_penalty"] and not photos["memorization_penalty"]


def test_cli_bad_inputs_exit_with_one_line_errors(tmp_path, capsys):
    one_image = tmp_path / "one.zip"
    with zipfile.ZipFile(one_image, "w") as archive:
        archive.writestr("a.jpg", b"x")
    assert cli.main(["mifid", str(one_image), "--real", str(one_image)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "at least 2 generated" in error and "Traceback" not in error
    not_a_zip = tmp_path / "broken.zip"
    not_a_zip.write_text("nope")
    assert cli.main(["mifid", str(not_a_zip), "--real", str(one_image)]) == 2
    assert "broken.zip is not a readable zip" in capsys.readouterr().err


def test_a_non_image_entry_is_named_by_the_command(tmp_path, capsys, monkeypatch):
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (256, 256), (10, 20, 30)).save(buffer, format="JPEG")
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("good.jpg", buffer.getvalue())
        archive.writestr("readme.txt", b"hello")
    network = features.build_feature_network("squeezenet", random_init_for_tests=True)
    monkeypatch.setattr(features, "build_feature_network", lambda *args, **kwargs: network)
    assert cli.main(["mifid", str(path), "--real", str(path)]) == 2
    error = capsys.readouterr().err
    assert "readme.txt" in error and "not an image" in error
