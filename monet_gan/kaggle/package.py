"""The Kaggle dataset that carries this package into a Kaggle notebook.

    python -m monet_gan package --dataset YOUR_KAGGLE_NAME/monet-gan-package
    kaggle datasets create -p dist/kaggle_dataset          # the first time
    kaggle datasets version -p dist/kaggle_dataset -m "new version"   # afterwards

A Kaggle notebook cannot pip-install from this repository, but it can read any dataset attached
to it. The upload folder holds two files: `monet_gan.zip`, the package's sources with
`monet_gan/` at the root of the archive, and `dataset-metadata.json`, which the Kaggle API needs.
Python imports a package straight from a zip on `sys.path`, and the notebook's set-up cell also
finds the package when Kaggle has unpacked the archive into a folder; either way it ends up at
/kaggle/input/datasets/<owner>/<slug>/ (or /kaggle/input/<slug>/ in older notebooks).
"""

import json
import os
import re
import zipfile

from monet_gan import files

ARCHIVE_NAME = "monet_gan.zip"
METADATA_FILE = "dataset-metadata.json"
DEFAULT_OUT = os.path.join("dist", "kaggle_dataset")
DEFAULT_SLUG = "monet-gan-package"
DEFAULT_TITLE = "monet_gan package"
PLACEHOLDER_OWNER = "YOUR_KAGGLE_USERNAME"
# Kaggle's rules: an owner name, a slug of 6 to 50 lowercase letters, digits and dashes.
_DATASET_ID = re.compile(r"^[A-Za-z0-9_-]+/[a-z0-9][a-z0-9-]{4,48}[a-z0-9]$")


def package_dir():
    """The folder of the monet_gan package that is running (this module lives in its kaggle/)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_files(directory=None):
    """The package's Python sources as paths relative to it, sorted: what the archive holds (no
    caches, no temporary files)."""
    directory = directory or package_dir()
    names = []
    for folder, subfolders, file_names in os.walk(directory):
        subfolders[:] = [name for name in subfolders if not name.startswith((".", "__pycache__"))]
        relative = os.path.relpath(folder, directory)
        names += [
            name if relative == "." else f"{relative}/{name}".replace(os.sep, "/")
            for name in file_names if name.endswith(".py") and not name.startswith(".")
        ]
    return sorted(names)


def default_dataset_id():
    """`<KAGGLE_USERNAME>/monet-gan-package`, with a placeholder owner when the name is not set."""
    return f"{os.environ.get('KAGGLE_USERNAME') or PLACEHOLDER_OWNER}/{DEFAULT_SLUG}"


def check_dataset_id(dataset_id):
    if not isinstance(dataset_id, str) or not _DATASET_ID.match(dataset_id):
        raise ValueError(
            f"Invalid Kaggle dataset id {dataset_id!r}: expected OWNER/SLUG with a slug of 6 to 50 "
            "lowercase letters, digits and dashes, e.g. 'jane/monet-gan-package'."
        )
    return dataset_id


def write_archive(path, directory=None):
    """Writes the package's sources into a zip with `monet_gan/` at its root; returns their names."""
    directory = directory or package_dir()
    names = source_files(directory)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(os.path.join(directory, name), f"monet_gan/{name}")
    return names


def build_package(out=DEFAULT_OUT, dataset_id=None, title=DEFAULT_TITLE, license_name="CC0-1.0"):
    """Builds the upload folder: monet_gan.zip and dataset-metadata.json.

    The folder is assembled under a temporary name beside `out` and swapped in whole, so an
    existing upload folder is replaced only by a complete new one.

    Returns:
        dict(path, archive, files, dataset_id).
    """
    dataset_id = check_dataset_id(dataset_id or default_dataset_id())
    if not 6 <= len(title) <= 50:
        raise ValueError(f"Invalid dataset title {title!r}: Kaggle needs 6 to 50 characters.")
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"Output path {out} exists and is not a folder.")

    with files.replaced_atomically(out) as staging:
        os.makedirs(staging)
        names = write_archive(os.path.join(staging, ARCHIVE_NAME))
        metadata = {
            "title": title,
            "id": dataset_id,
            "licenses": [{"name": license_name}],
            "description": (
                "The monet_gan package (CycleGAN for 'I'm Something of a Painter Myself') as "
                f"{ARCHIVE_NAME}, {len(names)} Python files. Attach this dataset to the notebook "
                "notebooks/monet_cyclegan.ipynb; its set-up cell imports the package from here."
            ),
        }
        with open(os.path.join(staging, METADATA_FILE), "w") as file:
            json.dump(metadata, file, indent=2)
    return {"path": out, "archive": os.path.join(out, ARCHIVE_NAME), "files": names, "dataset_id": dataset_id}


def upload_commands(path):
    """The Kaggle CLI commands that upload the folder: the first time, and for later versions."""
    return [
        f"kaggle datasets create -p {path}",
        f'kaggle datasets version -p {path} -m "new version"',
    ]


# Command line.


def add_arguments(parser):
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"upload folder to write (default: {DEFAULT_OUT})")
    parser.add_argument("--dataset", metavar="OWNER/SLUG",
                        help=f"Kaggle dataset id (default: $KAGGLE_USERNAME/{DEFAULT_SLUG})")
    parser.add_argument("--title", default=DEFAULT_TITLE, help=f"dataset title (default: {DEFAULT_TITLE!r})")
    parser.add_argument("--license", default="CC0-1.0", help="dataset license name (default: CC0-1.0)")


def run(args):
    result = build_package(args.out, dataset_id=args.dataset, title=args.title, license_name=args.license)
    if result["dataset_id"].startswith(f"{PLACEHOLDER_OWNER}/"):
        print(f"note: set your Kaggle user name with --dataset NAME/{DEFAULT_SLUG} "
              f"(or edit {METADATA_FILE}) before uploading")
    shown = os.path.relpath(result["path"])
    create, version = upload_commands(result["path"] if shown.startswith("..") else shown)
    print(f"upload it with:  {create}\n(new versions:   {version})")
    print(f"packaged {len(result['files'])} files of monet_gan into {result['archive']} "
          f"for the Kaggle dataset {result['dataset_id']}")
    return 0
