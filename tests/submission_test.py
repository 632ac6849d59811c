"""Tests for monet_gan.generation.submission and submit.py: images.zip from a generator, and its errors.

Real photos are symlinked from the competition data; the generators are tiny (32-64 px, 4
filters) so that painting a few hundred photos takes seconds.
"""

import os
import stat
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import spread_outputs
from conftest import two_cpu_strategy

from monet_gan import cli
from monet_gan.data import pipeline
from monet_gan.errors import UserError
from monet_gan.generation import image_zip
from monet_gan.generation import submission
from monet_gan.networks import discriminators
from monet_gan.networks import generators

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO_COUNT = 200

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def photo_dir(shared_data, tmp_path_factory):
    """The first PHOTO_COUNT competition photos, symlinked (never copied) into a folder."""
    folder = tmp_path_factory.mktemp("photos")
    source = shared_data / "photo_jpg"
    for name in sorted(os.listdir(source))[:PHOTO_COUNT]:
        os.symlink(source / name, folder / name)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    """A 32 px U-Net saved as a .keras file, and the model itself."""
    model = generators.build_generator("unet", image_size=32, filters=4, name="photo_to_monet")
    spread_outputs(model)
    path = str(tmp_path_factory.mktemp("generator") / "tiny.keras")
    model.save(path)
    return path, model


def _zip_images(path):
    return dict(image_zip.iterate_zip_images(path))


def test_zip_holds_one_256px_jpeg_per_photo_painted_by_the_generator(tiny_generator, photo_dir, tmp_path):
    path, model = tiny_generator
    out = tmp_path / "images.zip"
    result = submission.write_submission(
        path, photos=photo_dir, out=out, limit=150, batch_size=32, precision="float32", verbose=False
    )

    assert result["count"] == 150 and result["path"] == str(out)
    assert result["bytes"] == os.path.getsize(out) and result["seconds"] > 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~umask
    assert image_zip.validate_image_zip(out, min_count=150, max_count=150, image_size=256) == 150
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
    assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    names, photos = zip(*pipeline.load_images(photo_dir, 32, with_names=True).take(150).as_numpy_iterator())
    assert [info.filename for info in infos] == [name.decode() + ".jpg" for name in names]

    # The decoded entries are the generator's own output, resized to 256 px, up to JPEG loss.
    painted = model(np.stack(photos), training=False)
    expected = tf.image.resize((painted + 1.0) * 127.5, [256, 256]).numpy()
    entries = _zip_images(out)
    decoded = np.stack([entries[name.decode() + ".jpg"] for name in names]).astype(np.float32)
    assert decoded.shape == (150, 256, 256, 3)
    assert expected.std() > 20
    # Quality 95 with 4:2:0 chroma subsampling costs ~2 levels on this noisy, colourful output;
    # a wrong scale, size or channel order would cost tens.
    assert np.abs(decoded - expected).mean() < 3.0


def test_bfloat16_paints_almost_the_same_pixels_and_leaves_the_model_float32(tiny_generator, photo_dir, tmp_path):
    path, model = tiny_generator
    exact = submission.write_submission(path, photos=photo_dir, out=tmp_path / "float32.zip",
                                        limit=32, precision="float32", verbose=False)
    fast = submission.write_submission(model, photos=photo_dir, out=tmp_path / "bfloat16.zip",
                                       limit=32, precision="bfloat16", verbose=False)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    exact_images, fast_images = _zip_images(exact["path"]), _zip_images(fast["path"])
    assert list(exact_images) == list(fast_images)
    difference = [np.abs(exact_images[name].astype(float) - fast_images[name]).mean() for name in exact_images]
    assert np.mean(difference) < 2.0


def test_float32_means_float32_for_a_generator_trained_in_bfloat16(tiny_generator, photo_dir, tmp_path):
    # A bfloat16 run (a TPU, or a CPU with bfloat16 instructions) saves its policy in the file.
    path, model = tiny_generator
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        trained_in_bfloat16 = generators.build_generator(
            "unet", image_size=32, filters=4, name="photo_to_monet")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    trained_in_bfloat16.set_weights(model.get_weights())
    bfloat16_file = str(tmp_path / "bfloat16_run.keras")
    trained_in_bfloat16.save(bfloat16_file)
    from_bfloat16_run = submission.write_submission(
        bfloat16_file, photos=photo_dir, out=tmp_path / "a.zip", limit=32, precision="float32",
        verbose=False)
    from_float32_run = submission.write_submission(
        path, photos=photo_dir, out=tmp_path / "b.zip", limit=32, precision="float32", verbose=False)
    expected, painted = _zip_images(from_float32_run["path"]), _zip_images(from_bfloat16_run["path"])
    assert list(painted) == list(expected)
    for name, image in expected.items():
        np.testing.assert_array_equal(painted[name], image)


def test_several_replicas_paint_what_one_does(tiny_generator, photo_dir, tmp_path):
    path, _ = tiny_generator
    strategy = two_cpu_strategy()
    # 45 photos in batches of 8 leave a padded last batch split across the two replicas.
    mirrored = submission.write_submission(path, photos=photo_dir, out=tmp_path / "mirrored.zip",
                                           limit=45, batch_size=8, strategy=strategy, verbose=False)
    single = submission.write_submission(path, photos=photo_dir, out=tmp_path / "single.zip",
                                         limit=45, batch_size=8, precision="float32", verbose=False)
    mirrored_images, single_images = _zip_images(mirrored["path"]), _zip_images(single["path"])
    assert list(mirrored_images) == list(single_images) and len(mirrored_images) == 45
    for name, image in single_images.items():
        assert np.abs(mirrored_images[name].astype(float) - image).mean() < 0.5, name


def test_cli_paints_with_a_run_directory_and_its_64px_ema_generator(run_dir, photo_dir, tmp_path, capsys):
    directory, _, _ = run_dir
    out = tmp_path / "images.zip"
    code = cli.run_command("monet_gan.generation.submission", "python submit.py", "generate",
                           ["--ckpt", directory, "--photos", photo_dir, "--limit", "40",
                            "--out", str(out), "--batch-size", "16"])
    assert code == 0
    assert image_zip.validate_image_zip(out, min_count=40, max_count=40, image_size=256) == 40
    closing_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert closing_line.startswith(f"wrote 40 images to {out}") and " MB) in " in closing_line


def test_tfrecord_photos_are_named_after_their_image_name(tiny_generator, shared_data, tmp_path):
    path, _ = tiny_generator
    shard = str(shared_data / "monet_tfrec" / "monet00-60.tfrec")
    result = submission.write_submission(path, photos=shard, out=tmp_path / "images.zip", limit=25, verbose=False)
    names = [name for name, _ in pipeline.load_images(shard, 32, with_names=True).take(25).as_numpy_iterator()]
    with zipfile.ZipFile(result["path"]) as archive:
        assert archive.namelist() == [name.decode() + ".jpg" for name in names]


def test_repeated_photo_ids_get_unique_entry_names(tiny_generator, photo_dir, tmp_path):
    path, _ = tiny_generator
    first, second = sorted(os.listdir(photo_dir))[:2]
    photos = [os.path.join(photo_dir, name) for name in (first, first, second)]
    result = submission.write_submission(path, photos=photos, out=tmp_path / "images.zip", limit=3, verbose=False)
    stem = first.rsplit(".", 1)[0]
    with zipfile.ZipFile(result["path"]) as archive:
        assert archive.namelist() == [f"{stem}.jpg", f"{stem}_2.jpg", second.rsplit(".", 1)[0] + ".jpg"]


def test_entry_names_are_safe_and_unique():
    taken = set()
    names = [submission.entry_name(name, taken) for name in ("a", "A", "a", "../x y", "", "a_2")]
    assert names == ["a.jpg", "A_2.jpg", "a_3.jpg", "x_y.jpg", "image.jpg", "a_2_2.jpg"]


def test_a_failure_midway_leaves_the_previous_zip_untouched(tiny_generator, photo_dir, tmp_path, monkeypatch):
    path, _ = tiny_generator
    write_entries = submission.write_entries
    calls = []

    def fail_on_third_batch(archive, names, jpegs):
        calls.append(len(names))
        if len(calls) == 3:
            raise RuntimeError("disk fell off")
        write_entries(archive, names, jpegs)

    monkeypatch.setattr(submission, "write_entries", fail_on_third_batch)
    out = tmp_path / "images.zip"
    for previous in (None, b"the previous submission"):
        if previous is not None:
            out.write_bytes(previous)
        calls.clear()
        with pytest.raises(RuntimeError, match="disk fell off"):
            submission.write_submission(path, photos=photo_dir, out=out, limit=100, batch_size=16, verbose=False)
        assert len(calls) == 3
        assert os.listdir(tmp_path) == ([] if previous is None else ["images.zip"])
        if previous is not None:
            assert out.read_bytes() == previous


def test_too_few_photos_is_an_error_naming_the_count(tiny_generator, photo_dir, tmp_path):
    with pytest.raises(UserError, match=f"holds {PHOTO_COUNT} photos.*--limit"):
        submission.write_submission(tiny_generator[0], photos=photo_dir, out=tmp_path / "images.zip", verbose=False)
    assert os.listdir(tmp_path) == []


def test_more_than_ten_thousand_photos_are_capped_and_said(capsys):
    assert submission.plan_count(12_345, "photos/") == 10_000
    assert "first 10,000" in capsys.readouterr().out
    assert submission.plan_count(12_345, "photos/", limit=50) == 50
    assert submission.plan_count(7_038, "photos/") == 7_038


def test_unreadable_photos_name_the_file_and_leave_no_zip(tiny_generator, photo_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in sorted(os.listdir(photo_dir))[:5]:
        os.symlink(os.path.join(photo_dir, name), photos / name)
    (photos / "broken.jpg").write_bytes(b"this is not a JPEG")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UserError, match="broken.jpg"):
        submission.write_submission(tiny_generator[0], photos=photos, out=out / "images.zip", limit=6, verbose=False)
    assert os.listdir(out) == []


@pytest.mark.parametrize("arguments, message", [
    (["--ckpt", "missing_run"], "checkpoint not found: missing_run"),
    (["--out", "no/such/directory/images.zip"], "output directory does not exist"),
    (["--out", "."], "is a directory"),
    (["--quality", "0"], "quality must be an integer from 1 to 100"),
    (["--limit", "0"], "limit must be a positive integer"),
])
def test_cli_errors_are_one_line(tiny_generator, photo_dir, arguments, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    defaults = {"--ckpt": tiny_generator[0], "--photos": photo_dir, "--limit": "10"}
    defaults.update(dict(zip(arguments[::2], arguments[1::2])))
    argv = [item for pair in defaults.items() for item in pair]
    assert cli.run_command("monet_gan.generation.submission", "python submit.py", "generate", argv) == 2
    error_lines = capsys.readouterr().err.strip().splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith("error: ") and message in error_lines[0]
    assert not os.path.exists(tmp_path / "images.zip")


def test_submit_py_reports_a_bad_checkpoint_in_one_line(tmp_path):
    keras_file = tmp_path / "discriminator.keras"
    discriminators.build_discriminator(image_size=32, filters=4).save(str(keras_file))
    completed = subprocess.run(
        [sys.executable, os.path.join(PROJECT_ROOT, "submit.py"), "--ckpt", str(keras_file), "--limit", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    error_lines = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "not a photo->Monet generator" in error_lines[0]
    assert not os.path.exists(tmp_path / "images.zip")
    # TensorFlow's log lines from loading (printed whatever TF_CPP_MIN_LOG_LEVEL says) are muted.
    assert "absl::InitializeLog" not in completed.stderr and "oneDNN" not in completed.stderr


def test_mifid_flag_scores_the_zip_with_the_options_given(tiny_generator, photo_dir, tmp_path, monkeypatch):
    from monet_gan.metrics import mifid

    calls = []
    monkeypatch.setattr(mifid, "score", lambda *args, **kwargs: calls.append((args, kwargs)) or {})
    monkeypatch.setattr(mifid, "format_report", lambda result: "report")
    out = str(tmp_path / "images.zip")
    code = cli.run_command("monet_gan.generate", "python submit.py", "generate", [
        "--ckpt", tiny_generator[0], "--photos", photo_dir, "--limit", "4", "--out", out,
        "--mifid", "--mifid-real", "monets/", "--feature-net", "squeezenet", "--weights", "w.h5",
    ])
    assert code == 0
    assert calls == [((out, "monets/"), {"feature_net": "squeezenet", "weights": "w.h5"})]
