"""Tests for monet_gan.generation.image_zip: reading zips of images safely and validating submissions."""

import io
import struct
import zipfile

import numpy as np
import PIL.Image
import pytest

from monet_gan.errors import UserError
from monet_gan.generation import image_zip


def encode(image_array=None, size=16, mode="RGB", image_format="JPEG", seed=0):
    """Bytes of a small random image in the given mode and format."""
    if image_array is None:
        random = np.random.default_rng(seed)
        channels = {"RGB": 3, "RGBA": 4, "CMYK": 4, "L": 1}[mode]
        image_array = random.integers(0, 256, (size, size, channels), dtype=np.uint8)
        if channels == 1:
            image_array = image_array[..., 0]
    buffer = io.BytesIO()
    PIL.Image.fromarray(image_array, mode=mode).save(buffer, format=image_format)
    return buffer.getvalue()


def write_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def rgb_entries(count, size=16):
    return {f"{index:03d}.jpg": encode(size=size, seed=index) for index in range(count)}


def test_iterates_names_and_rgb_arrays(tmp_path):
    path = write_zip(tmp_path / "images.zip", rgb_entries(3))
    items = list(image_zip.iterate_zip_images(path, expected_size=16))
    assert [name for name, _ in items] == ["000.jpg", "001.jpg", "002.jpg"]
    for _, image in items:
        assert image.shape == (16, 16, 3) and image.dtype == np.uint8


def test_batches_keep_order_and_leave_a_short_last_batch(tmp_path):
    path = write_zip(tmp_path / "images.zip", rgb_entries(5), zipfile.ZIP_DEFLATED)
    batches = list(image_zip.iterate_zip_images(path, batch_size=2))
    assert [images.shape[0] for _, images in batches] == [2, 2, 1]
    assert batches[0][0] == ["000.jpg", "001.jpg"]
    singles = [image for _, image in image_zip.iterate_zip_images(path)]
    np.testing.assert_array_equal(batches[1][1][1], singles[3])


def test_directories_are_skipped(tmp_path):
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images/", b"")
        archive.writestr("images/a.jpg", encode())
    assert [name for name, _ in image_zip.iterate_zip_images(path)] == ["images/a.jpg"]


def test_non_image_entry_names_the_entry(tmp_path):
    entries = rgb_entries(2)
    entries["notes.txt"] = b"not an image"
    path = write_zip(tmp_path / "images.zip", entries)
    with pytest.raises(UserError, match=r"notes\.txt.*not an image"):
        list(image_zip.iterate_zip_images(path))


def test_wrong_size_names_the_entry_and_sizes(tmp_path):
    entries = rgb_entries(1)
    entries["small.jpg"] = encode(size=8)
    path = write_zip(tmp_path / "images.zip", entries)
    with pytest.raises(UserError, match=r"small\.jpg.*8x8; expected 16x16"):
        list(image_zip.iterate_zip_images(path, expected_size=16))


@pytest.mark.parametrize(
    "mode, image_format", [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG")]
)
def test_non_rgb_mode_names_the_entry_and_mode(tmp_path, mode, image_format):
    path = write_zip(tmp_path / "images.zip", {"odd.img": encode(mode=mode, image_format=image_format)})
    with pytest.raises(UserError, match=rf"odd\.img.*colour mode {mode}"):
        list(image_zip.iterate_zip_images(path))


def test_truncated_jpeg_is_a_user_error(tmp_path):
    data = encode(size=64)
    path = write_zip(tmp_path / "images.zip", {"cut.jpg": data[: len(data) // 2]})
    with pytest.raises(UserError, match=r"cut\.jpg"):
        list(image_zip.iterate_zip_images(path))


def test_images_of_mixed_sizes_cannot_share_a_batch(tmp_path):
    path = write_zip(tmp_path / "images.zip", {"a.jpg": encode(size=16), "b.jpg": encode(size=8)})
    with pytest.raises(UserError, match=r"b\.jpg"):
        list(image_zip.iterate_zip_images(path, batch_size=2))


def test_zip_bomb_is_refused_from_the_directory_alone(tmp_path, monkeypatch):
    # 4 MiB of zeros deflate to a few KB: a ratio no image has.
    path = write_zip(tmp_path / "bomb.zip", {"zeros.jpg": bytes(4 << 20)}, zipfile.ZIP_DEFLATED)
    with pytest.raises(UserError, match=r"zeros\.jpg.*zip bomb"):
        list(image_zip.iterate_zip_images(path))
    with pytest.raises(UserError, match=r"zeros\.jpg.*claims 4194304 bytes"):
        image_zip.list_zip_images(path, max_entry_bytes=1 << 20)
    # Nothing may be decompressed: the checks come before any read.
    monkeypatch.setattr(
        zipfile.ZipFile, "open", lambda *args, **kwargs: pytest.fail("entry was read")
    )
    with pytest.raises(UserError, match="zip bomb"):
        image_zip.count_zip_images(path)


def test_entry_whose_header_understates_its_size_is_a_user_error(tmp_path):
    # Rewrite the central directory so the entry claims 100 bytes; the read must stop there
    # and the mismatch must surface as a UserError, not as a crash or a huge read.
    path = write_zip(tmp_path / "liar.zip", {"liar.jpg": encode(size=64)}, zipfile.ZIP_DEFLATED)
    contents = bytearray(path.read_bytes())
    central = contents.find(b"PK\x01\x02")
    contents[central + 24 : central + 28] = struct.pack("<I", 100)
    path.write_bytes(bytes(contents))
    with pytest.raises(UserError, match=r"liar\.jpg"):
        list(image_zip.iterate_zip_images(path))


@pytest.mark.parametrize("contents", [b"this is not a zip", b""])
def test_corrupt_or_missing_zip_names_the_file(tmp_path, contents):
    path = tmp_path / "images.zip"
    path.write_bytes(contents)
    with pytest.raises(UserError, match=r"images\.zip is not a readable zip"):
        image_zip.count_zip_images(path)
    with pytest.raises(UserError, match=r"not found.*missing\.zip"):
        image_zip.count_zip_images(tmp_path / "missing.zip")


def test_validate_image_zip_returns_the_count(tmp_path):
    path = write_zip(tmp_path / "images.zip", rgb_entries(4, size=32))
    assert image_zip.validate_image_zip(path, min_count=3, max_count=5, image_size=32) == 4


def test_validate_image_zip_names_the_count_when_out_of_range(tmp_path):
    path = write_zip(tmp_path / "images.zip", rgb_entries(2, size=32))
    with pytest.raises(UserError, match=r"holds 2 files.*3 to 5"):
        image_zip.validate_image_zip(path, min_count=3, max_count=5, image_size=32)


def test_validate_image_zip_refuses_pngs_and_wrong_sizes(tmp_path):
    entries = rgb_entries(3, size=32)
    entries["picture.png"] = encode(size=32, image_format="PNG")
    path = write_zip(tmp_path / "images.zip", entries)
    with pytest.raises(UserError, match=r"picture\.png.*PNG"):
        image_zip.validate_image_zip(path, min_count=3, max_count=5, image_size=32)
    path = write_zip(tmp_path / "sizes.zip", rgb_entries(3, size=16))
    with pytest.raises(UserError, match=r"000\.jpg.*16x16; expected 32x32"):
        image_zip.validate_image_zip(path, min_count=3, max_count=5, image_size=32)


def test_bad_batch_size_echoes_the_value(tmp_path):
    path = write_zip(tmp_path / "images.zip", rgb_entries(1))
    with pytest.raises(ValueError, match="0"):
        list(image_zip.iterate_zip_images(path, batch_size=0))
