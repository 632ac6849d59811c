import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from monet_gan import cli
from monet_gan.data import pipeline
from monet_gan.data import sources
from monet_gan.data import tfrecord_writer
from monet_gan.errors import UserError

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_records(folder):
    records = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(folder, "*.tfrec"))):
        for record in tf.data.TFRecordDataset(path):
            features = tf.io.parse_single_example(record, sources.TFRECORD_FEATURES)
            name = features["image_name"].numpy().decode()
            records[name] = (features["image"].numpy(), features["target"].numpy())
    return records


def save_image(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return str(path)


def pixels(height, width, channels=3, seed=0):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_shard_sizes_follow_kaggles_split():
    assert tfrecord_writer.shard_sizes(7038, 20) == [352] * 19 + [350]
    assert tfrecord_writer.shard_sizes(300, 5) == [60] * 5
    assert tfrecord_writer.shard_sizes(3, 5) == [1, 1, 1]


@pytest.mark.real_data
def test_photo_shards_round_trip_names_bytes_and_pixels(shared_data, tmp_path):
    photos = sources.list_files(str(shared_data / "photo_jpg"))[:200]
    out_dir = str(tmp_path / "photo_tfrec")
    paths, reencoded = tfrecord_writer.write_tfrecords(photos, out_dir, target="photo", shards=3)
    assert [os.path.basename(path) for path in paths] == [
        "photo00-67.tfrec",
        "photo01-67.tfrec",
        "photo02-66.tfrec",
    ]
    assert reencoded == 0 and sorted(os.listdir(out_dir)) == sorted(map(os.path.basename, paths))
    records = read_records(out_dir)
    assert len(records) == 200
    for path in photos:
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path, "rb") as file:
            assert records[name] == (file.read(), b"photo")
    assert sources.count_images(out_dir) == 200
    from_shards = dict(pipeline.load_images(out_dir, with_names=True).as_numpy_iterator())
    from_files = dict(pipeline.load_images(photos, with_names=True).as_numpy_iterator())
    assert from_shards.keys() == from_files.keys()
    for name, image in from_files.items():
        np.testing.assert_array_equal(from_shards[name], image)


def test_png_and_grayscale_inputs_are_reencoded_as_rgb_jpeg(tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    # A smooth gradient survives JPEG compression closely (noise would not).
    ramp = np.linspace(0, 255, 24)
    rgba = np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 128.0, 200.0), axis=-1)
    save_image(source / "colour.png", rgba)
    save_image(source / "gray.png", pixels(16, 20, channels=1, seed=1))
    save_image(source / "photo.jpg", pixels(24, 24, seed=2))
    paths, reencoded = tfrecord_writer.write_tfrecords(source, tmp_path / "out", "monet", shards=5)
    assert [os.path.basename(path) for path in paths] == [
        "monet00-1.tfrec",
        "monet01-1.tfrec",
        "monet02-1.tfrec",
    ]
    assert reencoded == 2
    records = read_records(str(tmp_path / "out"))
    assert sorted(records) == ["colour", "gray", "photo"]
    for payload, target in records.values():
        assert tf.io.is_jpeg(payload) and target == b"monet"
        assert tf.io.decode_jpeg(payload).shape[-1] == 3
    colour = tf.io.decode_jpeg(records["colour"][0]).numpy().astype(float)
    assert np.abs(colour - rgba[..., :3]).mean() < 3
    assert records["photo"][0] == (source / "photo.jpg").read_bytes()


def test_a_bad_input_writes_nothing_and_names_the_file(tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    for index in range(4):
        save_image(source / f"good{index}.jpg", pixels(16, 16, seed=index))
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    out_dir = tmp_path / "out"
    with pytest.raises(UserError, match="1 of 5 inputs cannot be decoded.*broken.jpg"):
        tfrecord_writer.write_tfrecords(source, out_dir, shards=2)
    assert not out_dir.exists()
    # An existing output folder is left exactly as it was.
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("keep")
    with pytest.raises(UserError, match="broken.jpg"):
        tfrecord_writer.write_tfrecords(source, out_dir, shards=2)
    assert os.listdir(out_dir) == ["keep.txt"]


def test_existing_shards_need_overwrite(tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    for index in range(4):
        save_image(source / f"image{index}.jpg", pixels(16, 16, seed=index))
    out_dir = tmp_path / "out"
    tfrecord_writer.write_tfrecords(source, out_dir, shards=4)
    with pytest.raises(UserError, match="already holds 4 photo shards.*--overwrite"):
        tfrecord_writer.write_tfrecords(source, out_dir, shards=2)
    tfrecord_writer.write_tfrecords(source, out_dir, shards=2, overwrite=True)
    assert sorted(os.listdir(out_dir)) == ["photo00-2.tfrec", "photo01-2.tfrec"]
    with pytest.raises(ValueError, match="shards .* got 0"):
        tfrecord_writer.write_tfrecords(source, out_dir, shards=0)
    with pytest.raises(UserError, match="holds TFRecords"):
        tfrecord_writer.write_tfrecords(out_dir, tmp_path / "again")


def test_command_prints_a_summary(tmp_path, capsys):
    source = tmp_path / "images"
    source.mkdir()
    for index in range(3):
        save_image(source / f"image{index}.png", pixels(16, 16, seed=index))
    exit_code = cli.main(["make-tfrecords", str(source), str(tmp_path / "out"), "--shards", "2"])
    assert exit_code == 0
    output = capsys.readouterr().out
    assert "wrote 3 images into 2 shards" in output
    assert "photo00-2.tfrec ... photo01-1.tfrec" in output
    assert "3 non-JPEG images re-encoded as JPEG" in output


def test_command_line_reports_a_bad_input_without_traceback(tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    (source / "notes.jpg").write_text("plain text, not a picture")
    result = subprocess.run(
        [sys.executable, "-m", "monet_gan", "make-tfrecords", str(source), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=120,
    )
    assert result.returncode == 2
    assert "error: 1 of 1 inputs cannot be decoded as images" in result.stderr
    assert "notes.jpg" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
