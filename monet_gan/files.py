"""Writing a file or folder so that nobody ever sees half of it: write under a temporary name, rename.

    with files.replaced_atomically("runs/main/config.json") as temporary_path:
        with open(temporary_path, "w") as file:
            json.dump(values, file)

A rename within one folder is atomic on every local file system, so a reader (or a resumed run
after a kill) finds either the old complete file or the new complete file. When the block
raises, the temporary file or folder is removed and the old one is left as it was.
"""

import contextlib
import os
import shutil
import uuid


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def replaced_atomically(path):
    """Yields a temporary path beside `path`; renames it to `path` when the block succeeds.

    The temporary path does not exist yet: the block creates a file or a folder there. It is in
    the same folder as `path` (so the rename never crosses file systems), hidden, unique, and it
    keeps `path`'s extension, because some writers choose the format by it (Keras' `.keras`).
    An existing folder at `path` is replaced whole by the new folder.

    Args:
      path: the final file or folder; its folder is created when missing.
    """
    path = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(path)
    if not name:
        raise ValueError(f"path must name a file or folder, got path={path!r}")
    os.makedirs(directory, exist_ok=True)
    stem, extension = os.path.splitext(name)
    temporary_path = os.path.join(directory, f".{stem}.{uuid.uuid4().hex[:8]}.partial{extension}")
    try:
        yield temporary_path
        if not os.path.lexists(temporary_path):
            raise FileNotFoundError(f"nothing was written to the temporary path of {path}")
        if os.path.isdir(temporary_path) and os.path.isdir(path):
            # os.replace cannot put a folder over a non-empty folder: retire the old one first.
            retired_path = f"{temporary_path}.old"
            os.replace(path, retired_path)
            os.replace(temporary_path, path)
            shutil.rmtree(retired_path)
        else:
            os.replace(temporary_path, path)
    finally:
        _remove(temporary_path)
