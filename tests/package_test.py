"""The package as a whole: imports flow one way down the stages, and importing it registers its layers."""

import ast
import os
import subprocess
import sys

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(PROJECT_ROOT, "monet_gan")
# The stages in the order of the data's path; a module may import from its own stage, from the
# stages before it, and from the package's top-level modules that belong to no stage.
STAGES = ("data", "networks", "training", "generation", "metrics", "kaggle")


def package_modules():
    """Module name -> path, for every module of the package."""
    modules = {}
    for folder, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, PROJECT_ROOT)[: -len(".py")].replace(os.sep, ".")
                modules[dotted.removesuffix(".__init__")] = path
    return modules


def imported_modules(path, modules):
    """The package modules that the file at `path` imports, anywhere in it (late imports too)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph():
    modules = package_modules()
    graph = {name: imported_modules(path, modules) for name, path in modules.items()}
    # A package's __init__ is imported on the way to its children; that is not a dependency.
    return {name: {target for target in targets if not name.startswith(target + ".")}
            for name, targets in graph.items()}


def find_cycle(graph):
    """One import cycle as a list of module names, or None."""
    state = {}

    def visit(name, path):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name, [name])
            if cycle:
                return cycle
    return None


def stage_of(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in STAGES else None


def test_the_package_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_flow_down_the_stages():
    backwards = []
    for module, targets in import_graph().items():
        stage = stage_of(module)
        for target in targets:
            target_stage = stage_of(target)
            if stage and target_stage and STAGES.index(target_stage) > STAGES.index(stage):
                backwards.append(f"{module} -> {target}")
            if stage and module.count(".") > 1 and target.count(".") == 1 and target in (
                "monet_gan.cli", "monet_gan.demo"
            ):
                backwards.append(f"{module} -> {target}")
    assert backwards == []


def test_import_monet_gan_lets_keras_load_a_saved_generator(tmp_path):
    # A fresh interpreter: the saved model names monet_gan's layers, which only the package's
    # import registers.
    from monet_gan.networks import generators

    generator = generators.build_generator("resnet", image_size=32, filters=4, num_residual_blocks=1,
                                           name="photo_to_monet")
    path = str(tmp_path / "generator.keras")
    generator.save(path)
    script = (
        "import sys, numpy, monet_gan, keras; "
        "model = keras.saving.load_model(sys.argv[1]); "
        "print(model(numpy.zeros((1, 32, 32, 3), 'float32')).shape)"
    )
    completed = subprocess.run([sys.executable, "-c", script, path], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().endswith("(1, 32, 32, 3)")
