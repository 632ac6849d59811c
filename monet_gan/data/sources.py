"""Where the images are: Kaggle's folders, the files of a source, their raw encoded images.

A source is a folder, a glob, one file or a list of files, local or on gs:// (every file access goes
through tf.io.gfile). It holds either TFRecords in Kaggle's schema (bytes features `image_name`,
`image` = JPEG, `target`) or JPEG/PNG images, never a mix.

Errors in the data itself (a corrupt record, a file that is not an image) surface only while a
pipeline runs; `check_source` finds them up front and `user_errors` turns them into a UserError
that names the file.
"""

import contextlib
import os
import re

import tensorflow as tf

from monet_gan.data import kaggle_input
from monet_gan.errors import UserError

IMAGE_SIZE = 256
# The project's own copy first; then Kaggle's input root (kaggle_input.py).
DEFAULT_DATA_DIRS = ("tfrecords",)
DOMAINS = ("monet", "photo")
KINDS = ("tfrec", "jpg")  # Kaggle's folders are named <domain>_<kind>.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
TFRECORD_EXTENSIONS = (".tfrec", ".tfrecord", ".tfrecords")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
TFRECORD_FEATURES = {
    "image_name": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "image": tf.io.FixedLenFeature([], tf.string),
    "target": tf.io.FixedLenFeature([], tf.string, default_value=""),
}
AUTOTUNE = tf.data.AUTOTUNE


# ---------------------------------------------------------------------------------------------
# Finding the data.


def _is_data_dir(directory):
    # os.path.join keeps gs:// prefixes intact on POSIX, which is all tf.io.gfile needs.
    return all(
        any(tf.io.gfile.isdir(os.path.join(directory, f"{domain}_{kind}")) for kind in KINDS)
        for domain in DOMAINS
    )


def kaggle_data_dirs(root=None):
    """The competition's data folders under Kaggle's input root, the likeliest first
    (`kaggle_input.candidate_dirs`)."""
    return kaggle_input.candidate_dirs(_is_data_dir, root)


def find_data_dir(data_dir=None):
    """Returns the directory that holds monet_tfrec|monet_jpg and photo_tfrec|photo_jpg.

    With `data_dir` given, checks that it has this layout; otherwise tries DEFAULT_DATA_DIRS,
    then searches Kaggle's input root (`kaggle_data_dirs`). Raises UserError naming the places
    looked when none fits.
    """
    layout = "monet_tfrec/ (or monet_jpg/) and photo_tfrec/ (or photo_jpg/)"
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        if not tf.io.gfile.isdir(data_dir):
            raise UserError(f"data directory not found: {data_dir}")
        if not _is_data_dir(data_dir):
            raise UserError(f"{data_dir} does not hold the competition data: expected {layout}")
        return data_dir
    for candidate in DEFAULT_DATA_DIRS:
        if _is_data_dir(candidate):
            return candidate
    found = kaggle_data_dirs()
    if found:
        return found[0]
    looked = ", ".join(
        [os.path.abspath(place) if "://" not in place else place for place in DEFAULT_DATA_DIRS]
        + [f"{kaggle_input.input_root()} (searched {kaggle_input.SEARCH_DEPTH} levels deep)"]
    )
    raise UserError(
        f"no competition data found; looked in {looked}. On Kaggle, attach the competition "
        f"(Add Input -> Competitions -> {kaggle_input.COMPETITION}); elsewhere run "
        "`python -m monet_gan download` "
        f"(needs a Kaggle API token) or pass --data-dir DIR holding {layout}"
    )


def domain_source(data_dir, domain):
    """Returns the folder to read for "monet" or "photo"; TFRecords are preferred over JPEGs."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be 'monet' or 'photo', got {domain!r}")
    for kind, extensions in (("tfrec", TFRECORD_EXTENSIONS), ("jpg", IMAGE_EXTENSIONS)):
        folder = os.path.join(os.fspath(data_dir), f"{domain}_{kind}")
        if tf.io.gfile.isdir(folder) and any(
            name.lower().endswith(extensions) for name in tf.io.gfile.listdir(folder)
        ):
            return folder
    raise UserError(
        f"no {domain} data in {data_dir}: expected .tfrec files in {domain}_tfrec/ "
        f"or images in {domain}_jpg/"
    )


def _is_supported(path):
    name = os.path.basename(path.rstrip("/"))
    supported = name.lower().endswith(IMAGE_EXTENSIONS + TFRECORD_EXTENSIONS)
    return supported and not name.startswith(".")


def source_kind(files, source):
    """Returns "tfrecord" or "image" for a list of files, refusing a mix of both."""
    tfrecords = [path for path in files if path.lower().endswith(TFRECORD_EXTENSIONS)]
    if tfrecords and len(tfrecords) != len(files):
        raise UserError(f"{source} mixes TFRecords and image files; point to one kind only")
    return "tfrecord" if tfrecords else "image"


def list_files(source):
    """Lists the .jpg/.jpeg/.png or .tfrec files of a folder, a glob, one file or a list of these.

    Folders and globs are sorted. Raises UserError naming the source when it is missing, matches
    nothing, or mixes TFRecords with images.
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise UserError("the list of image sources is empty")
        files = [path for item in source for path in list_files(item)]
        source_kind(files, "the list of sources")
        return files
    source = os.fspath(source)
    if any(character in source for character in "*?["):
        files = sorted(path for path in tf.io.gfile.glob(source) if _is_supported(path))
        if not files:
            raise UserError(f"no .jpg, .jpeg, .png or .tfrec files match {source!r}")
    elif tf.io.gfile.isdir(source):
        names = [name for name in tf.io.gfile.listdir(source) if _is_supported(name)]
        files = sorted(os.path.join(source, name) for name in names)
        if not files:
            raise UserError(f"no images (.jpg, .jpeg, .png) or TFRecords (.tfrec) in {source}")
    elif tf.io.gfile.exists(source):
        if not _is_supported(source):
            raise UserError(f"{source} is not a .jpg, .jpeg, .png or .tfrec file")
        files = [source]
    else:
        raise UserError(f"not found: {source}")
    source_kind(files, source)
    return files


def _count_records(path):
    try:
        count = tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)
    except tf.errors.OpError as error:
        raise _corrupt_tfrecord(path, error) from None
    return int(count)


def count_images(source):
    """Number of images in a source. Kaggle's shard names (`photo00-352.tfrec`) carry the count;
    other TFRecord files are read through once."""
    files = list_files(source)
    if source_kind(files, source) == "image":
        return len(files)
    total = 0
    for path in files:
        match = re.search(r"-(\d+)\.tfrec(ord)?s?$", os.path.basename(path))
        total += int(match.group(1)) if match else _count_records(path)
    return total


def _file_name_stem(path):
    name = tf.strings.regex_replace(path, r"^.*/", "")
    return tf.strings.regex_replace(name, r"\.[^.]*$", "")


def _read_image_file(path):
    return _file_name_stem(path), tf.io.read_file(path), path


def _parse_record(record, path):
    features = tf.io.parse_single_example(record, TFRECORD_FEATURES)
    name = features["image_name"]
    return name, features["image"], tf.strings.join([path, " (record ", name, ")"])


def encoded_images(files, shuffle=False, seed=None, repeat=False):
    """Dataset of (name, encoded image, label naming its file), in a fixed order unless shuffled.

    Shuffling covers the whole list each pass: for folders the file names are shuffled; for
    TFRecords the encoded records are cached in memory (they are small beside decoded images) so
    that every pass can shuffle all of them without reading the files again.
    """
    paths = tf.data.Dataset.from_tensor_slices(files)
    if source_kind(files, "the source") == "image":
        if shuffle:
            paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            paths = paths.repeat()
        return paths.map(_read_image_file, num_parallel_calls=AUTOTUNE)
    records = paths.interleave(
        lambda path: tf.data.TFRecordDataset(path).map(lambda record: (record, path)),
        cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    records = records.map(_parse_record, num_parallel_calls=AUTOTUNE)
    if shuffle:
        records = records.cache().shuffle(
            max(count_images(files), 1), seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        records = records.repeat()
    return records


# ---------------------------------------------------------------------------------------------
# Finding bad files.


def tf_error_message(error):
    """The useful part of a TensorFlow error message, without the function-node wrapping."""
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", error.message)
    message = re.sub(r"\s*\[Op:\w+\].*$", "", message, flags=re.S)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__


def _corrupt_tfrecord(path, error):
    return UserError(f"{path}: corrupt or truncated TFRecord file ({tf_error_message(error)})")


def _check_tfrecord_file(path, decode):
    records = tf.data.TFRecordDataset(path)
    try:
        first = next(iter(records.take(1)), None)
        if first is None:
            raise UserError(f"{path}: TFRecord file holds no records")
        try:
            tf.io.parse_single_example(first, TFRECORD_FEATURES)
        except tf.errors.InvalidArgumentError:
            raise UserError(
                f"{path}: records are not in Kaggle's schema (bytes features image_name, image, "
                "target)"
            ) from None
        if not decode:
            return _count_records(path)
        count = 0
        for name, encoded, _ in encoded_images([path]):
            count += 1
            try:
                tf.io.decode_image(encoded, channels=3, expand_animations=False)
            except tf.errors.OpError as error:
                raise UserError(
                    f"{path}: record {name.numpy().decode()!r} does not hold a decodable image "
                    f"({tf_error_message(error)})"
                ) from None
        return count
    except tf.errors.OpError as error:
        raise _corrupt_tfrecord(path, error) from None


def _check_image_file(path, decode):
    try:
        with tf.io.gfile.GFile(path, "rb") as file:
            contents = file.read() if decode else file.read(len(PNG_MAGIC))
    except tf.errors.OpError as error:
        raise UserError(f"cannot read {path}: {tf_error_message(error)}") from None
    if not contents:
        raise UserError(f"{path} is empty, not an image")
    if not (contents.startswith(JPEG_MAGIC) or contents.startswith(PNG_MAGIC)):
        raise UserError(f"{path} is not a JPEG or PNG image")
    if decode:
        try:
            tf.io.decode_image(contents, channels=3, expand_animations=False)
        except tf.errors.OpError as error:
            raise UserError(f"{path}: cannot decode image ({tf_error_message(error)})") from None


def check_source(source, decode=False):
    """Scans a source and raises UserError naming the first bad file; returns the image count.

    The cheap scan (default) reads every TFRecord through and checks the first record's schema,
    and checks the JPEG/PNG signature of every image file. `decode=True` also decodes every image,
    which finds truncated JPEGs too but takes about a millisecond per image.
    """
    files = list_files(source)
    if source_kind(files, source) == "image":
        for path in files:
            _check_image_file(path, decode)
        return len(files)
    return sum(_check_tfrecord_file(path, decode) for path in files)


@contextlib.contextmanager
def user_errors(*sources):
    """Turns a data error raised while iterating a pipeline into a UserError naming the bad file.

    Usage: `with data.user_errors(photo_source, monet_source): model.fit(...)`. On a data-loss or
    invalid-argument error the sources are scanned with full decoding to find the culprit; if
    they are all sound, the original error propagates unchanged (it came from elsewhere).
    """
    try:
        yield
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as e:
        # The decoder's own check names the file when the bytes are not an image at all.
        named = re.search(r"\[not a JPEG or PNG image:\] \[(.*?)\]", e.message)
        if named:
            raise UserError(f"{named.group(1)} is not a JPEG or PNG image") from None
        for source in sources:
            check_source(source, decode=True)
        raise
