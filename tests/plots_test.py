import os

import numpy as np
import pytest
from PIL import Image

from monet_gan import plots
from monet_gan.errors import UserError


def test_image_grid_is_a_png_with_one_cell_per_image(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[rng.uniform(-1, 1, (16, 16, 3)) for _ in range(3)] for _ in range(2)]
    rows[1][2] = np.ones((16, 16, 1))  # Single-channel images are shown in gray.
    path = tmp_path / "samples" / "epoch_001.png"
    plots.save_image_grid(
        rows, path, row_titles=["photo", "painted"], column_titles=["a", "b", "c"]
    )
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > image.height  # Three columns, two rows.
    assert os.listdir(path.parent) == ["epoch_001.png"]  # No temporary file left.


def test_image_grid_checks_its_arguments(tmp_path):
    image = np.zeros((8, 8, 3))
    with pytest.raises(ValueError, match="2 row titles for 1 rows"):
        plots.save_image_grid([[image]], tmp_path / "grid.png", row_titles=["a", "b"])
    with pytest.raises(ValueError, match="at least one image"):
        plots.save_image_grid([], tmp_path / "grid.png")
    with pytest.raises(ValueError, match=r"HxWx3, got .* shape \(8, 8\)"):
        plots.save_image_grid([[np.zeros((8, 8))]], tmp_path / "grid.png")
    assert os.listdir(tmp_path) == []


def test_loss_curves_from_a_csv_logger_file(tmp_path):
    csv_path = tmp_path / "log.csv"
    csv_path.write_text(
        "epoch,generator_loss,discriminator_loss,lr\n0,5.0,0.7,0.0002\n1,4.1,0.6,0.0002\n"
    )
    plots.save_loss_curves(csv_path, tmp_path / "losses.png")
    with Image.open(tmp_path / "losses.png") as image:
        assert image.format == "PNG"
    assert sorted(os.listdir(tmp_path)) == ["log.csv", "losses.png"]
    epochs, columns = plots._read_loss_columns(csv_path)
    assert epochs == [0.0, 1.0] and list(columns) == ["generator_loss", "discriminator_loss"]


def test_loss_curves_need_an_epoch_column(tmp_path):
    (tmp_path / "log.csv").write_text("step,loss\n1,2.0\n")
    with pytest.raises(UserError, match="log.csv has no `epoch` column"):
        plots.save_loss_curves(tmp_path / "log.csv", tmp_path / "losses.png")
    with pytest.raises(UserError, match="loss log not found: .*missing.csv"):
        plots.save_loss_curves(tmp_path / "missing.csv", tmp_path / "losses.png")
    assert not (tmp_path / "losses.png").exists()


def test_loss_curves_get_a_quality_panel_from_fid_and_kid_columns(tmp_path):
    csv_path = tmp_path / "log.csv"
    csv_path.write_text(
        "epoch,fid,kid,generator_loss\n0,nan,nan,5.0\n1,3000,0.9,4.1\n2,NA,NA,3.9\n3,2500,0.7,3.5\n"
    )
    plots.save_loss_curves(csv_path, tmp_path / "losses.png")
    plots.save_loss_curves(csv_path, tmp_path / "losses.png")
    with Image.open(tmp_path / "losses.png") as image:
        # Two panels: the losses, then FID and KID.
        assert image.format == "PNG" and image.height == 800
    csv_path.write_text("epoch,generator_loss\n0,5.0\n1,4.1\n")
    plots.save_loss_curves(csv_path, tmp_path / "losses.png")
    with Image.open(tmp_path / "losses.png") as image:
        assert image.height == 400
