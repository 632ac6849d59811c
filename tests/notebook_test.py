"""The Kaggle notebook: its package finder, its resume helpers, and a run top to bottom on the CPU
against a fake Kaggle input tree of today's layout."""

import ast
import os
import pathlib
import subprocess
import sys
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

from monet_gan.errors import UserError
from monet_gan.generation import image_zip
from monet_gan.kaggle import notebook as notebook_lib

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK = PROJECT_ROOT / "notebooks" / "monet_cyclegan.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PACKAGE_DATASET = ("datasets", "tester", "monet-gan-package")


def _code_cells():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_notebook_is_stored_without_outputs_and_has_a_parameters_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code_cells = _code_cells()
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells)
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code_cells) == 1


def test_the_set_up_cell_chooses_the_backend_before_keras_is_imported():
    set_up = _code_cells()[1].source
    assert "import keras" not in _code_cells()[0].source
    assert set_up.index("import monet_gan") < set_up.index("import keras")
    for shown in ("Python", "TensorFlow", "Keras", "JAX", "MACHINE.describe()", "MONET_GAN_PATH", "DATA_DIR"):
        assert shown in set_up


def _package_finder():
    """The set-up cell's `find_monet_gan`, with the names it uses, run outside a notebook."""
    tree = ast.parse(_code_cells()[1].source)
    kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))
            and not (isinstance(node, ast.FunctionDef) and node.name != "find_monet_gan")
            and not any(alias.name.startswith(("monet_gan", "keras", "tensorflow", "IPython"))
                        for alias in getattr(node, "names", []))
            and getattr(node, "module", None) not in ("monet_gan", "IPython.display")]
    kept += [node for node in tree.body if isinstance(node, ast.Assign)
             and getattr(node.targets[0], "id", None) == "DOMAIN_FOLDERS"]
    namespace = {"os": os}  # Imported by the parameters cell.
    exec(compile(ast.Module(body=kept, type_ignores=[]), "set-up cell", "exec"), namespace)
    return namespace["find_monet_gan"]


def _package_zip(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("monet_gan/__init__.py", "")
    return str(path)


@pytest.mark.parametrize("layout, expected", [
    (PACKAGE_DATASET + ("monet_gan.zip",), PACKAGE_DATASET + ("monet_gan.zip",)),  # Today's.
    (("monet-gan-package", "monet_gan.zip"), ("monet-gan-package", "monet_gan.zip")),  # Older.
    # Unpacked by Kaggle into a folder named after the archive, or straight into the dataset.
    (PACKAGE_DATASET + ("monet_gan.zip", "monet_gan", "__init__.py"), PACKAGE_DATASET + ("monet_gan.zip",)),
    (("monet-gan-package", "monet_gan", "__init__.py"), ("monet-gan-package",)),
])
def test_the_notebook_finds_the_package_dataset_in_any_kaggle_layout(tmp_path, monkeypatch, layout, expected):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "input"
    (root / "competitions" / "gan-getting-started" / "photo_jpg").mkdir(parents=True)
    target = root.joinpath(*layout)
    if layout[-1] == "monet_gan.zip":
        _package_zip(target)
    else:
        target.parent.mkdir(parents=True)
        target.touch()
    assert _package_finder()(str(root)) == str(root.joinpath(*expected))


def test_the_notebook_says_what_to_attach_when_the_package_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="monet_gan not found under .*attach the Kaggle dataset"):
        _package_finder()(str(tmp_path / "input"))


def _fake_run(folder, epoch):
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "checkpoints" / "checkpoint").write_text(
        f'model_checkpoint_path: "ckpt-{epoch}"\nall_model_checkpoint_paths: "ckpt-{epoch}"\n'
    )
    return folder


def test_a_previous_version_s_run_is_found_and_copied_once(tmp_path):
    root = tmp_path / "input"
    _fake_run(root / "notebooks" / "tester" / "monet-cyclegan" / "run", 3)
    furthest = _fake_run(root / "monet-cyclegan-v2" / "run", 7)
    assert notebook_lib.find_previous_runs(str(root))[0] == str(furthest)
    run_dir = tmp_path / "working" / "run"
    assert notebook_lib.resume_previous_run("auto", str(run_dir), str(root)) == str(furthest)
    assert notebook_lib.checkpoint_epoch(run_dir) == 7
    # A second call in the same session keeps the working run, which is as far or further.
    assert notebook_lib.resume_previous_run("auto", str(run_dir), str(root)) is None
    assert notebook_lib.resume_previous_run(None, str(run_dir), str(root)) is None
    assert notebook_lib.resume_previous_run("auto", str(tmp_path / "new"), str(tmp_path / "empty")) is None
    with pytest.raises(UserError, match="is not a run folder with a checkpoint"):
        notebook_lib.resume_previous_run(str(tmp_path), str(run_dir))


def _kaggle_input(tmp_path, shared_data_dir):
    """Today's layout: the competition under competitions/, the package dataset under datasets/.

    The data is the real Monet TFRecords and 24 real photos when the shared data is there (linked,
    never copied), else a synthetic set; the package dataset is built by its own command.
    """
    root = tmp_path / "input"
    data_dir = root / "competitions" / "gan-getting-started"
    if shared_data_dir is None:
        from monet_gan import demo

        demo.make_demo_data(str(data_dir), photo_count=24, painting_count=8, size=32)
    else:
        (data_dir / "photo_jpg").mkdir(parents=True)
        os.symlink(shared_data_dir / "monet_tfrec", data_dir / "monet_tfrec")
        for name in sorted(os.listdir(shared_data_dir / "photo_jpg"))[:24]:
            os.symlink(shared_data_dir / "photo_jpg" / name, data_dir / "photo_jpg" / name)
    package = root.joinpath(*PACKAGE_DATASET)
    completed = subprocess.run(
        [sys.executable, "-m", "monet_gan", "package", "--out", str(package),
         "--dataset", "tester/monet-gan-package"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    (package / "dataset-metadata.json").unlink()  # Kaggle mounts the files, not the metadata.
    return root, data_dir


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


# TensorFlow on one CPU device, and JAX on eight virtual CPU devices standing for a TPU v5e-8's chips.
BACKENDS = {
    "tensorflow": ({}, 1),
    "jax": ({"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}, 8),
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_notebook_runs_top_to_bottom_on_a_kaggle_tree_and_writes_a_valid_zip(tmp_path, monkeypatch, backend):
    from conftest import SHARED_DATA
    from conftest import SHARED_WEIGHTS

    if backend == "jax":
        pytest.importorskip("jax", reason="JAX is not installed (Kaggle's GPU image has none)")
    environment, replicas = BACKENDS[backend]
    input_root, data_dir = _kaggle_input(tmp_path, SHARED_DATA if (SHARED_DATA / "monet_jpg").is_dir() else None)
    working = tmp_path / "working"
    working.mkdir()
    squeezenet = SHARED_WEIGHTS / "squeezenet_v1.1_imagenet_notop.h5"
    parameters = {
        "INPUT_ROOT": str(input_root),
        "WORKING_DIR": str(working),
        "RUN_DIR": str(working / "run"),
        "OUT": str(working / "images.zip"),
        "CONFIG": {"image_size": 32, "generator_filters": 4, "num_residual_blocks": 1,
                   "discriminator_filters": 4, "epochs": 1, "steps_per_epoch": 2, "batch_size": replicas,
                   "pool_size": 2, "sample_count": 2, "seed": 0},
        "TIME_BUDGET": "auto",
        "PHOTO_LIMIT": 16,
        # The MiFID cell runs with the SqueezeNet proxy when its weights are beside the project.
        "MIFID_FEATURE_NET": "squeezenet",
        "MIFID_WEIGHTS": str(squeezenet) if squeezenet.is_file() else None,
    }
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    _inject_parameters(notebook, parameters)
    # The kernel starts in the working folder, as on Kaggle: the package must come from the input
    # tree's dataset, not from this checkout.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MONET_GAN_DEVICE_ROOT", str(tmp_path / "no_devices"))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(working)}})
    client.execute()

    image_zip.validate_image_zip(str(working / "images.zip"), min_count=16, max_count=16, image_size=256)
    for png in (working / "look.png", working / "run" / "samples" / "epoch_001.png",
                working / "run" / "loss_curves.png"):
        _assert_png(png)
    assert (working / "run" / "time_budget.json").is_file()

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs)
    package = input_root.joinpath(*PACKAGE_DATASET, "monet_gan.zip")
    assert f"from {package}" in text and f"competition data: {data_dir}" in text
    assert f"| Keras backend: {backend}" in text and "devices: cpu:" in text
    assert "Python 3." in text and "| JAX " in text
    assert "no previous run attached" in text
    assert f"replicas: {replicas}" in text and "time budget for training" in text
    assert "wrote 16 images" in text
    # The photo/Monet look, the sample grid and the loss curves are shown inline.
    assert sum("image/png" in output.get("data", {}) for output in outputs) >= 3
    if parameters["MIFID_WEIGHTS"]:
        assert "MiFID-like (proxy, NOT MiFID)" in text
    else:
        pytest.skip(f"the notebook ran; its MiFID cell was skipped: no weights at {squeezenet}")
