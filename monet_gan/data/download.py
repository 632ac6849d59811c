"""`download`: fetch and unzip the competition data with the Kaggle API.

The kaggle package is imported only once credentials are known to exist: some versions of it
raise (or exit) on import when there are none, which would hide the instructions printed here.
"""

import os
import shutil
import uuid
import zipfile

import tqdm

from monet_gan.errors import UserError

COMPETITION = "gan-getting-started"
RULES_URL = f"https://www.kaggle.com/competitions/{COMPETITION}/rules"
DATA_FOLDERS = ("monet_jpg", "monet_tfrec", "photo_jpg", "photo_tfrec")

CREDENTIALS_HELP = f"""no Kaggle API credentials found (looked for ~/.kaggle/kaggle.json and the \
KAGGLE_USERNAME and KAGGLE_KEY environment variables). To download the data:
  1. create an API token on kaggle.com -> Settings -> API -> "Create New Token";
  2. save the kaggle.json it gives you as ~/.kaggle/kaggle.json, then run
     chmod 600 ~/.kaggle/kaggle.json
  3. accept the competition rules at {RULES_URL}
and run this command again. Or run the notebook on Kaggle, where the data is attached under
/kaggle/input/{COMPETITION}."""


def kaggle_credential_places():
    """The files the kaggle package reads credentials from, in its own order."""
    home = os.path.expanduser("~")
    config_dirs = [os.environ.get("KAGGLE_CONFIG_DIR"), os.path.join(home, ".kaggle")]
    config_dirs.append(
        os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "kaggle")
    )
    places = [os.path.join(folder, "kaggle.json") for folder in config_dirs if folder]
    places.append(os.path.join(home, ".kaggle", "access_token"))
    return places


def has_kaggle_credentials():
    """True when the kaggle package will find a user name and key (or an access token)."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    if os.environ.get("KAGGLE_API_TOKEN"):
        return True
    return any(os.path.isfile(place) for place in kaggle_credential_places())


def _has_data(dest):
    return all(
        any(os.path.isdir(os.path.join(dest, f"{domain}_{kind}")) for kind in ("tfrec", "jpg"))
        for domain in ("monet", "photo")
    )


def _kaggle_api():
    """The authenticated kaggle API object, or a UserError saying why not."""
    try:
        import kaggle  # Imported late on purpose: see the module docstring.

        api = kaggle.api
        api.authenticate()
    except ImportError:
        raise UserError("the kaggle package is not installed: pip install kaggle") from None
    except (Exception, SystemExit) as error:
        raise UserError(
            f"the Kaggle API rejected the credentials ({error}).\n{CREDENTIALS_HELP}"
        ) from None
    return api


def download(dest="tfrecords", force=False):
    """Downloads and unzips the competition files into `dest`; returns the folders made.

    Skips the download when `dest` already holds the data, unless `force` is set.
    """
    if _has_data(dest) and not force:
        print(f"{dest} already holds the competition data; pass --force to download it again")
        return []
    if not has_kaggle_credentials():
        raise UserError(CREDENTIALS_HELP)
    api = _kaggle_api()
    # Everything lands in a staging folder first, so an interrupted download leaves no
    # half-filled data folders behind.
    staging = os.path.join(dest, f".download-{uuid.uuid4().hex[:8]}")
    os.makedirs(staging)
    try:
        try:
            api.competition_download_files(COMPETITION, path=staging, quiet=False)
        except (Exception, SystemExit) as error:
            raise UserError(
                f"Kaggle refused the download of {COMPETITION} ({error}). Accept the competition "
                f"rules at {RULES_URL} and check that your API token is current."
            ) from None
        archives = [name for name in os.listdir(staging) if name.endswith(".zip")]
        if not archives:
            raise UserError(f"the Kaggle API returned no zip archive for {COMPETITION}")
        extracted = os.path.join(staging, "extracted")
        for archive in archives:
            _unzip(os.path.join(staging, archive), extracted)
        made = []
        for name in sorted(os.listdir(extracted)):
            target = os.path.join(dest, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
            os.replace(os.path.join(extracted, name), target)
            made.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return made


def _unzip(archive, folder):
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in tqdm.tqdm(zipped.infolist(), desc="unzipping", unit="file"):
                zipped.extract(member, folder)
    except zipfile.BadZipFile as error:
        raise UserError(f"{archive} is not a valid zip archive ({error})") from None


# ---------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser):
    parser.add_argument(
        "--dest", default="tfrecords", help="folder to unzip the data into (default: tfrecords/)"
    )
    parser.add_argument(
        "--force", action="store_true", help="download again even if the data is there"
    )


def run(args):
    made = download(args.dest, force=args.force)
    if made:
        counts = []
        for path in made:
            if os.path.isdir(path):
                counts.append(f"{os.path.basename(path)}/ {len(os.listdir(path))} files")
        print(f"downloaded {COMPETITION} into {args.dest}: " + ", ".join(counts))
    return 0
