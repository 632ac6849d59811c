"""Safe reading and validation of zip files of images (images.zip and its kind).

A zip file is untrusted input: its entries may be something other than images, images of the
wrong size or colour mode, or a "zip bomb" whose entries expand to gigabytes. Everything here
checks the zip's own directory (`ZipInfo.file_size`, the compression ratio) before reading an
entry, reads at most `max_entry_bytes` of it, and checks an image's header (format, size, mode)
with PIL before decoding its pixels, so memory stays bounded whatever the file holds. Every
problem becomes one `UserError` that names the zip and the entry.

Images are decoded with PIL, as Kaggle's own scorer reads the submitted images.
"""

import io
import os
import zipfile

import numpy as np
import PIL.Image

from monet_gan.errors import UserError

# A 256x256 JPEG is 10-60 KB; 8 MiB leaves room for large lossless PNGs but not for a bomb.
MAX_ENTRY_BYTES = 8 * 1024 * 1024

# JPEG and PNG data is already compressed, so deflate shrinks it by a few times at most. An entry
# that claims to expand far more than this is a zip bomb, not an image.
MAX_COMPRESSION_RATIO = 100

# More entries than this is not a set of generated images; it also bounds the zip's directory.
MAX_ENTRIES = 100_000

# The largest image (in pixels) decoded when no size is expected: 4096x4096 RGB is 48 MiB.
MAX_PIXELS = 4096 * 4096

IMAGE_FORMATS = ("JPEG", "PNG")


def _open_zip(path):
    """Opens `path` as a zip file, turning a missing or corrupt file into a UserError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"zip file not found: {path}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UserError(f"{path} is not a readable zip file ({error})") from None


def list_zip_images(path, max_entry_bytes=MAX_ENTRY_BYTES, max_entries=MAX_ENTRIES):
    """Checks the zip's directory and returns its file entries (directories left out).

    Nothing is decompressed here: the sizes come from the zip's central directory, so a zip
    bomb is refused before a single byte of it is inflated.

    Args:
      path: the zip file.
      max_entry_bytes: the largest uncompressed size accepted for one entry.
      max_entries: the largest number of entries accepted.

    Returns:
      A list of `zipfile.ZipInfo`, in the zip's order.
    """
    with _open_zip(path) as archive:
        infos = archive.infolist()
    if len(infos) > max_entries:
        raise UserError(f"{path} holds {len(infos)} entries; at most {max_entries} are accepted")
    files = [info for info in infos if not info.is_dir()]
    for info in files:
        if info.flag_bits & 0x1:
            raise UserError(f"{path}: entry {info.filename!r} is encrypted")
        if info.file_size > max_entry_bytes:
            raise UserError(
                f"{path}: entry {info.filename!r} claims {info.file_size} bytes uncompressed, "
                f"more than the {max_entry_bytes} allowed for one image (a zip bomb?)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_COMPRESSION_RATIO:
            raise UserError(
                f"{path}: entry {info.filename!r} expands {ratio:.0f}x when decompressed, "
                f"more than images ever do ({MAX_COMPRESSION_RATIO}x; a zip bomb?)"
            )
    return files


def _read_entry(archive, path, info, max_entry_bytes):
    """Reads one entry's bytes, never more than `max_entry_bytes` whatever its header claims."""
    try:
        with archive.open(info) as entry:
            data = entry.read(max_entry_bytes + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError) as error:
        raise UserError(f"{path}: entry {info.filename!r} cannot be read ({error})") from None
    if len(data) > max_entry_bytes:
        raise UserError(
            f"{path}: entry {info.filename!r} expands past {max_entry_bytes} bytes (a zip bomb?)"
        )
    return data


def _decode_image(data, path, name, expected_size, formats):
    """Decodes one image to uint8 HxWx3 after checking its header, or raises a UserError."""
    where = f"{path}: entry {name!r}"
    try:
        image = PIL.Image.open(io.BytesIO(data))
    except (PIL.UnidentifiedImageError, PIL.Image.DecompressionBombError, OSError,
            ValueError) as error:
        raise UserError(f"{where} is not an image ({error})") from None
    with image:
        if image.format not in formats:
            raise UserError(f"{where} is a {image.format} file; expected {' or '.join(formats)}")
        width, height = image.size
        if expected_size is not None and (width, height) != (expected_size, expected_size):
            raise UserError(
                f"{where} is {width}x{height}; expected {expected_size}x{expected_size}"
            )
        if width * height > MAX_PIXELS:
            raise UserError(f"{where} is {width}x{height}, larger than {MAX_PIXELS} pixels")
        if image.mode != "RGB":
            raise UserError(
                f"{where} has colour mode {image.mode}; expected RGB (3 channels, e.g. "
                f"save with image.convert('RGB'))"
            )
        try:
            pixels = np.asarray(image, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as error:
            raise UserError(f"{where} is a corrupt image ({error})") from None
    if pixels.shape != (height, width, 3):
        raise UserError(f"{where} decodes to shape {pixels.shape}; expected {height}x{width}x3")
    return pixels


def iterate_zip_images(
    path,
    expected_size=None,
    max_entry_bytes=MAX_ENTRY_BYTES,
    batch_size=None,
    formats=IMAGE_FORMATS,
    max_entries=MAX_ENTRIES,
):
    """Yields the images of a zip file one by one or in batches, checking each entry.

    Args:
      path: the zip file.
      expected_size: when set, every image must be expected_size x expected_size.
      max_entry_bytes: the largest uncompressed size accepted for one entry.
      batch_size: None to yield `(name, image)` per entry; an int to yield
        `(names, images)` with up to `batch_size` names and a uint8 (N, H, W, 3) array
        (then all images must have one size, which `expected_size` guarantees).
      formats: the PIL formats accepted.
      max_entries: the largest number of entries accepted.

    Yields:
      `(name, uint8 HxWx3 array)`, or `(list of names, uint8 NxHxWx3 array)` with batch_size.

    Raises:
      UserError naming the zip and the first bad entry: not an image, wrong format, size or
      colour mode, corrupt, or too large when decompressed.
    """
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be None or a positive int, got {batch_size!r}")
    path = os.fspath(path)
    infos = list_zip_images(path, max_entry_bytes=max_entry_bytes, max_entries=max_entries)
    names, images = [], []
    with _open_zip(path) as archive:
        for info in infos:
            data = _read_entry(archive, path, info, max_entry_bytes)
            pixels = _decode_image(data, path, info.filename, expected_size, formats)
            if batch_size is None:
                yield info.filename, pixels
                continue
            if images and pixels.shape != images[0].shape:
                raise UserError(
                    f"{path}: entry {info.filename!r} is {pixels.shape[1]}x{pixels.shape[0]}, "
                    f"unlike the {images[0].shape[1]}x{images[0].shape[0]} images before it"
                )
            names.append(info.filename)
            images.append(pixels)
            if len(images) == batch_size:
                yield names, np.stack(images)
                names, images = [], []
    if images:
        yield names, np.stack(images)


def count_zip_images(path, max_entry_bytes=MAX_ENTRY_BYTES):
    """The number of file entries in a zip, after its directory passed the bomb checks."""
    return len(list_zip_images(path, max_entry_bytes=max_entry_bytes))


def validate_image_zip(path, min_count=7000, max_count=10000, image_size=256):
    """Checks that a zip is a valid submission and returns its number of images.

    Kaggle's rules: 7,000 to 10,000 images, each a 256x256 RGB JPEG. Every entry is decoded, so
    a truncated or corrupt image is found here rather than by Kaggle.

    Raises:
      UserError naming the first bad entry, or the count when it is out of range.
    """
    path = os.fspath(path)
    count = count_zip_images(path)
    if not min_count <= count <= max_count:
        raise UserError(
            f"{path} holds {count} files; a submission needs {min_count} to {max_count} images"
        )
    for _ in iterate_zip_images(path, expected_size=image_size, formats=("JPEG",)):
        pass
    return count
