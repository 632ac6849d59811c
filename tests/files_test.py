"""Tests for monet_gan.files: write under a temporary name, then rename."""

import os

import pytest

from monet_gan import files


def test_a_file_appears_only_when_complete_and_keeps_its_extension(tmp_path):
    path = tmp_path / "new" / "model.keras"
    with files.replaced_atomically(path) as temporary_path:
        assert temporary_path.endswith(".keras") and os.path.dirname(temporary_path) == str(path.parent)
        with open(temporary_path, "w") as file:
            file.write("complete")
        assert not path.exists()
    assert path.read_text() == "complete"
    assert os.listdir(path.parent) == ["model.keras"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with files.replaced_atomically(path) as temporary_path:
            with open(temporary_path, "w") as file:
                file.write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_folder_replaces_the_old_folder_whole(tmp_path):
    path = tmp_path / "upload"
    path.mkdir()
    (path / "stale.txt").write_text("stale")
    with files.replaced_atomically(path) as temporary_path:
        os.makedirs(temporary_path)
        with open(os.path.join(temporary_path, "fresh.txt"), "w") as file:
            file.write("fresh")
    assert os.listdir(path) == ["fresh.txt"]
    assert os.listdir(tmp_path) == ["upload"]


def test_writing_nothing_is_an_error_that_keeps_the_old_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old")
    with pytest.raises(FileNotFoundError, match="log.csv"):
        with files.replaced_atomically(path):
            pass
    assert path.read_text() == "old"
