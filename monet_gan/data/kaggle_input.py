"""Where Kaggle mounts a notebook's inputs, and a bounded search of them.

Kaggle moved its mounts in 2026: the competition is at /kaggle/input/competitions/<slug>/ (older
notebooks: /kaggle/input/<slug>/) and an attached dataset at /kaggle/input/datasets/<owner>/<slug>/
(older: /kaggle/input/<slug>/). Hard-coding either breaks on the other, so inputs are searched
for by what they hold, a few levels deep. Pure Python: local files only.
"""

import os

INPUT_ENV = "MONET_GAN_KAGGLE_INPUT"
INPUT_ROOT = "/kaggle/input"
COMPETITION = "gan-getting-started"
# How deep below the input root a data folder may sit: competitions/<slug>/ is two levels, a
# dataset's datasets/<owner>/<slug>/<folder>/ four.
SEARCH_DEPTH = 4
# The competition's image folders: never walked into (photo_jpg/ alone holds 7,038 files).
IMAGE_FOLDERS = frozenset(
    f"{domain}_{kind}" for domain in ("monet", "photo") for kind in ("tfrec", "jpg")
)


def input_root():
    """Where Kaggle mounts a notebook's inputs: /kaggle/input, or $MONET_GAN_KAGGLE_INPUT."""
    return os.environ.get(INPUT_ENV) or INPUT_ROOT


def search(root, is_match, depth=SEARCH_DEPTH):
    """Folders under the local `root` (itself included) for which `is_match(path)` holds.

    Walks breadth first, at most `depth` levels down, in name order, and not below a match nor
    into the competition's image folders. A missing root yields nothing.
    """
    if not os.path.isdir(root):
        return []
    found, level = [], [os.fspath(root)]
    for _ in range(depth + 1):
        following = []
        for folder in level:
            if is_match(folder):
                found.append(folder)
                continue
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError:
                continue
            following += [
                entry.path for entry in entries
                if entry.is_dir() and not entry.name.startswith(".") and entry.name not in IMAGE_FOLDERS
            ]
        level = following
    return found


def candidate_dirs(is_data_dir, root=None):
    """The competition's data folders under the input root, the likeliest first.

    Today's layout is <root>/competitions/gan-getting-started/; notebooks created before the change
    see <root>/gan-getting-started/; any other folder for which `is_data_dir` holds follows (e.g.
    the data re-uploaded as a dataset).
    """
    root = root or input_root()
    known = [os.path.join(root, "competitions", COMPETITION), os.path.join(root, COMPETITION)]
    found = [place for place in known if os.path.isdir(place) and is_data_dir(place)]
    return found + [place for place in search(root, is_data_dir) if place not in found]
