import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from monet_gan.data import kaggle_input
from monet_gan.data import pipeline
from monet_gan.data import sources
from monet_gan.errors import UserError


def save_image(path, array, **options):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path, **options)
    return str(path)


def random_pixels(height, width, channels=3, seed=0):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def image_folder(folder, count, size=32):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        save_image(folder / f"image{index:03d}.jpg", random_pixels(size, size, seed=index))
    return str(folder)


def write_tfrecord(path, names):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index, name in enumerate(names):
            jpeg = tf.io.encode_jpeg(random_pixels(32, 32, seed=index)).numpy()
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
                        for key, value in (
                            ("image_name", name.encode()),
                            ("image", jpeg),
                            ("target", b"monet"),
                        )
                    }
                )
            )
            writer.write(example.SerializeToString())
    return str(path)


# ---------------------------------------------------------------------------------------------
# Real data.


@pytest.mark.real_data
def test_monet_tfrecords_hold_the_300_paintings_of_monet_jpg(shared_data):
    source = str(shared_data / "monet_tfrec")
    names, minimum, maximum = [], 1.0, -1.0
    for name, image in pipeline.load_images(source, with_names=True):
        assert image.shape == (256, 256, 3) and image.dtype == tf.float32
        names.append(name.numpy().decode())
        minimum = min(minimum, float(tf.reduce_min(image)))
        maximum = max(maximum, float(tf.reduce_max(image)))
    jpg_names = {os.path.splitext(name)[0] for name in os.listdir(shared_data / "monet_jpg")}
    assert len(names) == 300 and set(names) == jpg_names
    assert -1.0 <= minimum < -0.9 and 0.9 < maximum <= 1.0
    assert sources.count_images(source) == 300
    assert sources.check_source(source) == 300


@pytest.mark.real_data
def test_real_layout_is_found_and_tfrecords_are_preferred(shared_data):
    assert sources.find_data_dir(shared_data) == str(shared_data)
    assert sources.domain_source(shared_data, "monet").endswith("monet_tfrec")
    assert sources.domain_source(shared_data, "photo").endswith("photo_jpg")


@pytest.mark.real_data
def test_training_epoch_walks_every_photo_once_in_a_new_order(shared_data):
    photos = sources.list_files(str(shared_data / "photo_jpg"))[:203]
    dataset = pipeline.training_dataset(
        photos,
        str(shared_data / "monet_tfrec"),
        global_batch_size=8,
        augment=False,
        seed=7,
        with_names=True,
    )
    epochs = []
    for _ in range(2):
        names = []
        for photo_batch, monet_batch, photo_names, monet_names in dataset:
            assert photo_batch.shape == (8, 256, 256, 3) and monet_batch.shape == (8, 256, 256, 3)
            assert photo_batch.dtype == tf.float32 and monet_names.shape == (8,)
            names.extend(name.decode() for name in photo_names.numpy())
        epochs.append(names)
    all_names = {os.path.splitext(os.path.basename(path))[0] for path in photos}
    for names in epochs:
        # 203 photos in batches of 8: 25 full batches, the 3-photo tail is dropped.
        assert len(names) == 200 and len(set(names)) == 200 and set(names) <= all_names
    assert epochs[0] != epochs[1]


# ---------------------------------------------------------------------------------------------
# Synthetic images.


def test_grayscale_rgba_odd_sizes_and_png_become_rgb_of_the_configured_size(tmp_path):
    gray = save_image(tmp_path / "gray.png", random_pixels(32, 32, channels=1))
    rgba = random_pixels(32, 32, channels=4, seed=1)
    save_image(tmp_path / "rgba.png", rgba)
    save_image(tmp_path / "odd.jpeg", random_pixels(45, 21, seed=2))
    save_image(tmp_path / "exact.png", random_pixels(32, 32, seed=3))
    loaded = {
        name.numpy().decode(): image.numpy()
        for name, image in pipeline.load_images(str(tmp_path), image_size=32, with_names=True)
    }
    assert sorted(loaded) == ["exact", "gray", "odd", "rgba"]
    for image in loaded.values():
        assert image.shape == (32, 32, 3) and image.min() >= -1.0 and image.max() <= 1.0
    gray_pixels = np.asarray(Image.open(gray), dtype=np.float32) / 127.5 - 1
    for channel in range(3):
        np.testing.assert_allclose(loaded["gray"][..., channel], gray_pixels, atol=1e-6)
    np.testing.assert_allclose(loaded["rgba"], rgba[..., :3] / 127.5 - 1, atol=1e-6)
    # An image of the configured size is not resampled: the PNG's pixels come through exactly.
    exact = random_pixels(32, 32, seed=3)
    np.testing.assert_allclose(loaded["exact"], exact / 127.5 - 1, atol=1e-6)


def test_training_dataset_batches_augments_and_is_reproducible_with_a_seed(tmp_path):
    photos = image_folder(tmp_path / "photos", 10)
    monets = image_folder(tmp_path / "monets", 3)

    def first_batches(seed):
        dataset = pipeline.training_dataset(photos, monets, 32, global_batch_size=4, seed=seed)
        return [(p.numpy(), m.numpy()) for p, m in dataset]

    batches = first_batches(seed=3)
    assert len(batches) == 2  # 10 photos -> 2 full batches of 4; the tail is dropped.
    for photo_batch, monet_batch in batches:
        assert photo_batch.shape == monet_batch.shape == (4, 32, 32, 3)
        assert photo_batch.min() >= -1 and photo_batch.max() <= 1
    again = first_batches(seed=3)
    for (photos_a, monets_a), (photos_b, monets_b) in zip(batches, again):
        np.testing.assert_array_equal(photos_a, photos_b)
        np.testing.assert_array_equal(monets_a, monets_b)
    # Jitter changes pixels: the augmented images are not simply the decoded files.
    plain = np.stack([image.numpy() for image in pipeline.load_images(photos, 32)])
    assert not any(np.allclose(batches[0][0][0], image, atol=1e-3) for image in plain)


def test_repeat_makes_the_photo_stream_endless(tmp_path):
    photos = image_folder(tmp_path / "photos", 4)
    dataset = pipeline.training_dataset(
        photos, photos, 32, global_batch_size=2, augment=False, repeat=True, with_names=True
    )
    names = [name for batch in dataset.take(6) for name in batch[2].numpy()]
    assert len(names) == 12 and all(names.count(name) == 3 for name in set(names))


def test_training_dataset_checks_its_arguments(tmp_path):
    photos = image_folder(tmp_path / "photos", 3)
    with pytest.raises(UserError, match="3 photos, fewer than the global batch size 4"):
        pipeline.training_dataset(photos, photos, 32, global_batch_size=4)
    with pytest.raises(ValueError, match="global_batch_size .* got 0"):
        pipeline.training_dataset(photos, photos, 32, global_batch_size=0)
    with pytest.raises(ValueError, match="image_size .* got 'big'"):
        pipeline.load_images(photos, image_size="big")


def test_find_data_dir_searches_the_default_places_and_names_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(kaggle_input.INPUT_ENV, str(tmp_path / "input"))
    with pytest.raises(UserError, match="looked in .*tfrecords, .*input \\(searched 4 levels"):
        sources.find_data_dir()
    for folder in ("monet_jpg", "photo_jpg", "photo_tfrec"):
        (tmp_path / "tfrecords" / folder).mkdir(parents=True)
    assert sources.find_data_dir() == "tfrecords"
    with pytest.raises(UserError, match="does not hold the competition data"):
        sources.find_data_dir(tmp_path)
    with pytest.raises(UserError, match="not found: .*nowhere"):
        sources.find_data_dir(tmp_path / "nowhere")
    # An empty photo_tfrec/ falls back to photo_jpg/; with no images at all it is an error.
    with pytest.raises(UserError, match="no photo data"):
        sources.domain_source("tfrecords", "photo")
    image_folder(tmp_path / "tfrecords" / "photo_jpg", 1)
    assert sources.domain_source("tfrecords", "photo") == os.path.join("tfrecords", "photo_jpg")
    with pytest.raises(ValueError, match="'paintings'"):
        sources.domain_source("tfrecords", "paintings")


def test_list_files_accepts_folders_globs_files_and_lists(tmp_path):
    folder = image_folder(tmp_path / "images", 3)
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    files = sources.list_files(folder)
    assert [os.path.basename(path) for path in files] == [
        "image000.jpg",
        "image001.jpg",
        "image002.jpg",
    ]
    assert sources.list_files(os.path.join(folder, "*1.jpg")) == [files[1]]
    assert sources.list_files(files[2]) == [files[2]]
    assert sources.list_files(files[:2]) == files[:2]
    assert sources.count_images(folder) == 3


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda tmp: str(tmp), "no images .* in .*"),
        (lambda tmp: str(tmp / "*.jpg"), "no .* files match .*\\*\\.jpg"),
        (lambda tmp: str(tmp / "missing"), "not found: .*missing"),
        (lambda tmp: str((tmp / "notes.txt").write_text("x") and tmp / "notes.txt"), "notes.txt"),
    ],
    ids=["empty folder", "glob with no match", "missing path", "not an image file"],
)
def test_empty_or_missing_sources_are_user_errors_naming_them(tmp_path, make_source, message):
    with pytest.raises(UserError, match=message):
        pipeline.load_images(make_source(tmp_path))


def test_mixed_folder_is_refused(tmp_path):
    image_folder(tmp_path, 1)
    write_tfrecord(tmp_path / "monet00-1.tfrec", ["a"])
    with pytest.raises(UserError, match="mixes TFRecords and image files"):
        sources.list_files(str(tmp_path))


def test_corrupt_image_is_named_by_check_source_and_by_user_errors(tmp_path):
    folder = image_folder(tmp_path / "images", 2)
    (tmp_path / "images" / "broken.jpg").write_bytes(b"this is not a JPEG")
    with pytest.raises(UserError, match="broken.jpg is not a JPEG or PNG image"):
        sources.check_source(folder)
    with pytest.raises(UserError, match="broken.jpg is not a JPEG or PNG image"):
        with sources.user_errors(folder):
            list(pipeline.load_images(folder, 32))


def test_truncated_jpeg_is_found_by_the_full_decode_scan(tmp_path):
    folder = image_folder(tmp_path / "images", 2)
    whole = (tmp_path / "images" / "image001.jpg").read_bytes()
    (tmp_path / "images" / "image001.jpg").write_bytes(whole[: len(whole) // 3])
    assert sources.check_source(folder) == 2  # The signature is intact; only decoding fails.
    with pytest.raises(UserError, match="image001.jpg: cannot decode image"):
        sources.check_source(folder, decode=True)
    with pytest.raises(UserError, match="image001.jpg"):
        with sources.user_errors(folder):
            list(pipeline.load_images(folder, 32))


def test_truncated_tfrecord_is_named(tmp_path):
    path = write_tfrecord(tmp_path / "monet00-3.tfrec", ["a", "b", "c"])
    assert sources.check_source(path) == 3
    assert [name.numpy() for name, _ in pipeline.load_images(path, 32, with_names=True)] == [
        b"a",
        b"b",
        b"c",
    ]
    contents = open(path, "rb").read()
    with open(path, "wb") as file:
        file.write(contents[: len(contents) - 100])
    with pytest.raises(UserError, match="monet00-3.tfrec: corrupt or truncated TFRecord"):
        sources.check_source(str(tmp_path))
    with pytest.raises(UserError, match="monet00-3.tfrec: corrupt or truncated TFRecord"):
        with sources.user_errors(path):
            list(pipeline.load_images(path, 32))


def test_tfrecords_in_another_schema_are_refused(tmp_path):
    path = str(tmp_path / "other.tfrec")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(b"not an example")
    with pytest.raises(UserError, match="other.tfrec: records are not in Kaggle's schema"):
        sources.check_source(path)


def _competition_tree(folder, kinds=("tfrec", "jpg")):
    for domain in sources.DOMAINS:
        for kind in kinds:
            (folder / f"{domain}_{kind}").mkdir(parents=True)
    return str(folder)


@pytest.mark.parametrize("layout", [
    ("competitions", "gan-getting-started"),  # Kaggle's current mount.
    ("gan-getting-started",),  # Notebooks created before the change.
    ("datasets", "someone", "monet-copy", "data"),  # A re-upload as a dataset, one level deeper.
])
def test_find_data_dir_finds_the_competition_under_the_kaggle_input_root(tmp_path, monkeypatch, layout):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "input"
    expected = _competition_tree(root.joinpath(*layout), kinds=("jpg",))
    (root / "datasets" / "someone" / "monet-gan-package").mkdir(parents=True)
    monkeypatch.setenv(kaggle_input.INPUT_ENV, str(root))
    assert kaggle_input.input_root() == str(root)
    assert sources.find_data_dir() == expected


def test_kaggle_data_dirs_lists_the_current_layout_first_and_keeps_tfrecords_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "input"
    older = _competition_tree(root / "gan-getting-started")
    current = _competition_tree(root / "competitions" / "gan-getting-started")
    other = _competition_tree(root / "datasets" / "a" / "b")
    assert sources.kaggle_data_dirs(str(root)) == [current, older, other]
    # Too deep to be an attached input: not searched.
    _competition_tree(root / "1" / "2" / "3" / "4" / "5")
    assert len(sources.kaggle_data_dirs(str(root))) == 3
    monkeypatch.setenv(kaggle_input.INPUT_ENV, str(root))
    assert sources.find_data_dir() == current
    _competition_tree(tmp_path / "tfrecords")
    assert sources.find_data_dir() == "tfrecords"
    assert sources.kaggle_data_dirs(str(tmp_path / "missing")) == []
