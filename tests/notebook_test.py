"""The Kaggle notebook, executed top to bottom on the CPU with shrunken parameters."""

import json
import os
import pathlib
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "monet_cyclegan.ipynb"


def test_notebook_is_stored_without_outputs_and_has_a_parameters_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
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


def test_notebook_runs_top_to_bottom_and_writes_a_valid_zip(tmp_path):
    from conftest import SHARED_DATA

    data_dir = _small_data_dir(tmp_path, SHARED_DATA if (SHARED_DATA / "monet_jpg").is_dir() else None)
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
    }
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    # Papermill's convention: the injected values go in a cell right after the parameters cell.
    injected = "\n".join(f"{name} = {json.dumps(value) if not isinstance(value, dict) else repr(value)}"
                         for name, value in parameters.items())
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(injected.replace("null", "None")))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()

    with zipfile.ZipFile(tmp_path / "images.zip") as archive:
        names = archive.namelist()
    assert len(names) == 16 and len(set(names)) == 16
    assert (tmp_path / "look.png").is_file()
    assert (tmp_path / "run" / "samples" / "epoch_001.png").is_file()
    assert (tmp_path / "run" / "loss_curves.png").is_file()
    outputs = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "replicas: 1" in outputs and "time budget for training" in outputs
