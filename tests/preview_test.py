import numpy as np
import pytest
from PIL import Image

from monet_gan import cli
from monet_gan.data import preview
from monet_gan.errors import UserError


def make_data_dir(root, photos=3, monets=2):
    for folder, count in (("photo_jpg", photos), ("monet_jpg", monets)):
        (root / folder).mkdir(parents=True)
        for index in range(count):
            pixels = np.full((32, 32, 3), 40 * index, dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{folder}{index}.jpg")
    return root


def test_look_prints_counts_and_saves_a_grid(tmp_path, capsys):
    data_dir = make_data_dir(tmp_path / "data")
    out = tmp_path / "look.png"
    exit_code = cli.main(["look", "--data-dir", str(data_dir), "--out", str(out), "--count", "3"])
    assert exit_code == 0
    output = capsys.readouterr().out
    assert "photo: 3 images in" in output and "monet: 2 images in" in output
    assert "saved a grid of 3 photos and 2 Monets" in output
    with Image.open(out) as grid:
        assert grid.format == "PNG" and grid.width > grid.height


def test_look_without_data_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONET_GAN_KAGGLE_INPUT", str(tmp_path / "input"))
    exit_code = cli.main(["look"])
    assert exit_code == 2
    error = capsys.readouterr().err
    assert "error: no competition data found; looked in" in error
    assert f"{tmp_path / 'input'} (searched" in error and "download" in error
    assert not (tmp_path / "look.png").exists()


def test_look_names_a_corrupt_file(tmp_path):
    data_dir = make_data_dir(tmp_path / "data")
    (data_dir / "monet_jpg" / "scan.jpg").write_bytes(b"")
    with pytest.raises(UserError, match="scan.jpg is empty"):
        preview.look(data_dir, tmp_path / "look.png")
    with pytest.raises(ValueError, match="count .* got 0"):
        preview.look(data_dir, tmp_path / "look.png", count=0)


@pytest.mark.real_data
def test_look_at_the_real_data(shared_data, tmp_path, capsys):
    counts = preview.look(shared_data, tmp_path / "look.png", count=2)
    assert counts == {"photo": 7038, "monet": 300}
    assert (tmp_path / "look.png").stat().st_size > 10_000
