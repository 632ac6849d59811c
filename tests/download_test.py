import os
import subprocess
import sys
import types
import zipfile

import pytest

from monet_gan.data import download
from monet_gan.errors import UserError

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """A home folder without kaggle.json and an environment without Kaggle variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith("KAGGLE_") or name == "XDG_CONFIG_HOME":
            monkeypatch.delenv(name)
    return home


def fake_kaggle(monkeypatch, download_files):
    """Installs a stand-in `kaggle` module whose api calls `download_files(competition, path)`."""
    calls = []

    class FakeApi:
        def authenticate(self):
            calls.append("authenticate")

        def competition_download_files(self, competition, path=None, force=False, quiet=True):
            calls.append(competition)
            download_files(competition, path)

    module = types.ModuleType("kaggle")
    module.api = FakeApi()
    monkeypatch.setitem(sys.modules, "kaggle", module)
    return calls


def write_competition_zip(competition, path):
    with zipfile.ZipFile(os.path.join(path, f"{competition}.zip"), "w") as archive:
        for folder, count in (("monet_jpg", 2), ("photo_jpg", 3), ("monet_tfrec", 1)):
            for index in range(count):
                archive.writestr(f"{folder}/{index}.jpg", b"\xff\xd8\xff")


def test_without_credentials_it_explains_what_to_do_and_does_not_import_kaggle(
    no_credentials, monkeypatch, tmp_path
):
    # A None entry makes any `import kaggle` fail, so reaching the message proves it never ran.
    monkeypatch.setitem(sys.modules, "kaggle", None)
    assert not download.has_kaggle_credentials()
    with pytest.raises(UserError) as raised:
        download.download(str(tmp_path / "data"))
    message = str(raised.value)
    for expected in ("Settings -> API", "~/.kaggle/kaggle.json", "chmod 600", "rules", "notebook"):
        assert expected in message
    assert not (tmp_path / "data").exists()


def test_credentials_are_found_in_the_environment_or_kaggle_json(no_credentials, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    assert not download.has_kaggle_credentials()
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    assert download.has_kaggle_credentials()
    monkeypatch.delenv("KAGGLE_KEY")
    (no_credentials / ".kaggle").mkdir()
    (no_credentials / ".kaggle" / "kaggle.json").write_text('{"username": "a", "key": "b"}')
    assert download.has_kaggle_credentials()


def test_download_unzips_into_dest_and_leaves_no_archive(no_credentials, monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    calls = fake_kaggle(monkeypatch, write_competition_zip)
    dest = tmp_path / "tfrecords"
    made = download.download(str(dest))
    assert calls == ["authenticate", "gan-getting-started"]
    assert sorted(os.listdir(dest)) == ["monet_jpg", "monet_tfrec", "photo_jpg"]
    assert sorted(map(os.path.basename, made)) == ["monet_jpg", "monet_tfrec", "photo_jpg"]
    assert len(os.listdir(dest / "photo_jpg")) == 3
    # With the data in place a second call does not download again.
    assert download.download(str(dest)) == [] and calls == ["authenticate", "gan-getting-started"]


def test_a_refused_download_names_the_rules(no_credentials, monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")

    def refuse(competition, path):
        raise RuntimeError("403 Forbidden")

    fake_kaggle(monkeypatch, refuse)
    with pytest.raises(UserError, match="403 Forbidden.*competitions/gan-getting-started/rules"):
        download.download(str(tmp_path / "data"))
    assert os.listdir(tmp_path / "data") == []


def test_command_line_without_credentials_exits_non_zero(no_credentials, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("KAGGLE_")}
    result = subprocess.run(
        [sys.executable, "-m", "monet_gan", "download", "--dest", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**env, "HOME": str(no_credentials)},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: no Kaggle API credentials found")
    assert "chmod 600" in result.stderr and "Traceback" not in result.stderr
