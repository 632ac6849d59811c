"""The Kaggle notebook, executed top to bottom on the CPU with shrunken parameters."""

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

from monet_gan.generation import image_zip

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "monet_cyclegan.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_notebook_is_stored_without_outputs_and_has_a_parameters_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells)
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code_cells) == 1


def _small_data_dir(tmp_path, shared_data_dir):
    """Real Monet TFRecords and 24 real photos when the shared data is there, else synthetic."""
    if shared_data_dir is None:
        from monet_gan import demo

        return demo.make_demo_data(str(tmp_path / "data"), photo_count=24, painting_count=8, size=32)
    data_dir = tmp_path / "data"
    (data_dir / "photo_jpg").mkdir(parents=True)
    os.symlink(shared_data_dir / "monet_tfrec", data_dir / "monet_tfrec")
    for name in sorted(os.listdir(shared_data_dir / "photo_jpg"))[:24]:
        os.symlink(shared_data_dir / "photo_jpg" / name, data_dir / "photo_jpg" / name)
    return str(data_dir)


def _assert_png(path):
    assert path.read_bytes().startswith(PNG_SIGNATURE), path
    with Image.open(path) as image:
        image.verify()


def _inject_parameters(notebook, parameters):
    """Papermill's convention: the new values go in a cell right after the one tagged parameters."""
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, cell)


def test_notebook_runs_top_to_bottom_and_writes_a_valid_zip(tmp_path):
    from conftest import SHARED_DATA
    from conftest import SHARED_WEIGHTS

    data_dir = _small_data_dir(tmp_path, SHARED_DATA if (SHARED_DATA / "monet_jpg").is_dir() else None)
    squeezenet = SHARED_WEIGHTS / "squeezenet_v1.1_imagenet_notop.h5"
    parameters = {
        "DATA_DIR": data_dir,
        "WORKING_DIR": str(tmp_path),
        "RUN_DIR": str(tmp_path / "run"),
        "OUT": str(tmp_path / "images.zip"),
        "CONFIG": {"image_size": 32, "generator_filters": 4, "num_residual_blocks": 1,
                   "discriminator_filters": 4, "epochs": 1, "steps_per_epoch": 2, "batch_size": 2,
                   "pool_size": 2, "sample_count": 2, "seed": 0},
        "TIME_BUDGET": "auto",
        "PHOTO_LIMIT": 16,
        # The MiFID cell runs with the SqueezeNet proxy when its weights are beside the project.
        "MIFID_FEATURE_NET": "squeezenet",
        "MIFID_WEIGHTS": str(squeezenet) if squeezenet.is_file() else None,
    }
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    _inject_parameters(notebook, parameters)
    # The kernel starts in notebooks/, as in a checkout, so the set-up cell finds the package in "..".
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()

    zip_path = tmp_path / "images.zip"
    image_zip.validate_image_zip(str(zip_path), min_count=16, max_count=16, image_size=256)
    for png in (tmp_path / "look.png", tmp_path / "run" / "samples" / "epoch_001.png",
                tmp_path / "run" / "loss_curves.png"):
        _assert_png(png)
    assert (tmp_path / "run" / "time_budget.json").is_file()

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs)
    assert "replicas: 1" in text and "time budget for training" in text
    assert "wrote 16 images" in text
    # The photo/Monet look, the sample grid and the loss curves are shown inline.
    assert sum("image/png" in output.get("data", {}) for output in outputs) >= 3
    if parameters["MIFID_WEIGHTS"]:
        assert "MiFID-like (proxy, NOT MiFID)" in text
    else:
        pytest.skip(f"the notebook ran; its MiFID cell was skipped: no weights at {squeezenet}")
