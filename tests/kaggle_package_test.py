"""The Kaggle dataset upload of the package: its files, its metadata, and that Python imports it."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from monet_gan.kaggle import package as kaggle_package

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_upload_folder_holds_the_package_zip_and_valid_metadata(tmp_path):
    out = tmp_path / "upload"
    result = kaggle_package.build_package(str(out), dataset_id="jane/monet-gan-package")
    assert sorted(os.listdir(out)) == sorted([kaggle_package.ARCHIVE_NAME, kaggle_package.METADATA_FILE])
    with zipfile.ZipFile(out / kaggle_package.ARCHIVE_NAME) as archive:
        names = archive.namelist()
    package = os.path.join(PROJECT_ROOT, "monet_gan")
    expected = sorted(
        os.path.relpath(os.path.join(folder, name), package).replace(os.sep, "/")
        for folder, _, files in os.walk(package) if "__pycache__" not in folder
        for name in files if name.endswith(".py") and not name.startswith(".")
    )
    assert names == [f"monet_gan/{name}" for name in expected] == [f"monet_gan/{name}" for name in result["files"]]
    assert "monet_gan/__init__.py" in names and "monet_gan/training/time_budget.py" in names
    metadata = json.loads((out / kaggle_package.METADATA_FILE).read_text())
    assert metadata["id"] == "jane/monet-gan-package"
    assert 6 <= len(metadata["title"]) <= 50 and metadata["licenses"] == [{"name": "CC0-1.0"}]


def test_python_imports_the_package_straight_from_the_zip(tmp_path):
    result = kaggle_package.build_package(str(tmp_path / "upload"), dataset_id="jane/monet-gan-package")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import monet_gan, monet_gan.training.time_budget as t; "
        "print(monet_gan.__file__); print(t.parse_duration('4h30m'))"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run([sys.executable, "-c", script, result["archive"]], cwd=tmp_path,
                               env=environment, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.splitlines() == [os.path.join(result["archive"], "monet_gan", "__init__.py"), "16200.0"]


def test_rebuilding_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "upload"
    kaggle_package.build_package(str(out), dataset_id="jane/monet-gan-package")
    (out / "stale.txt").write_text("from an older build")
    kaggle_package.build_package(str(out), dataset_id="jane/monet-gan-v2")
    assert not (out / "stale.txt").exists()
    assert json.loads((out / kaggle_package.METADATA_FILE).read_text())["id"] == "jane/monet-gan-v2"
    assert [name for name in os.listdir(tmp_path) if name != "upload"] == []


@pytest.mark.parametrize("dataset_id", ["jane", "jane/short", "jane/Upper-Case-Slug", "/monet-gan-package"])
def test_bad_dataset_ids_are_named(tmp_path, dataset_id):
    with pytest.raises(ValueError, match="Invalid Kaggle dataset id"):
        kaggle_package.build_package(str(tmp_path / "upload"), dataset_id=dataset_id)
    assert not (tmp_path / "upload").exists()


def test_cli_package_command_prints_the_upload_commands(tmp_path):
    out = tmp_path / "upload"
    environment = {**os.environ, "KAGGLE_USERNAME": "jane"}
    completed = subprocess.run(
        [sys.executable, "-m", "monet_gan", "package", "--out", str(out)],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"kaggle datasets create -p {out}" in completed.stdout
    assert "for the Kaggle dataset jane/monet-gan-package" in completed.stdout.splitlines()[-1]

    completed = subprocess.run(
        [sys.executable, "-m", "monet_gan", "package", "--out", str(out), "--dataset", "nope"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "error: Invalid Kaggle dataset id 'nope'" in completed.stderr
