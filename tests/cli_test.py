"""The command-line entry point: the command table, exit codes and quiet imports."""

import importlib
import os
import subprocess
import sys

import pytest

from monet_gan import cli
from monet_gan.errors import UserError

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_command_names_a_module_with_add_arguments_and_run():
    for name, (module_name, description) in cli.COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run), name
        assert description.endswith("."), name


def test_no_command_or_an_unknown_one_prints_the_list_and_exits_2(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([])
    assert raised.value.code == 0
    assert "make-tfrecords" in capsys.readouterr().out
    with pytest.raises(SystemExit) as raised:
        cli.main(["paint-everything"])
    assert raised.value.code == 2
    assert "invalid choice: 'paint-everything'" in capsys.readouterr().err


class FakeCommand:
    """A command module whose run raises what the test hands it."""

    def __init__(self, error):
        self.error = error

    def add_arguments(self, parser):
        parser.add_argument("--value")

    def run(self, args):
        raise self.error


@pytest.mark.parametrize("error, code, message", [
    (UserError("photos not found: nowhere/"), 2, "error: photos not found: nowhere/"),
    (FileNotFoundError("missing.json"), 2, "error: missing.json"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_run_command_turns_user_errors_into_one_line(monkeypatch, capsys, error, code, message):
    monkeypatch.setattr(cli, "_import_quietly", lambda name: FakeCommand(error))
    assert cli.run_command("fake", "python -m monet_gan fake", "A fake.", ["--value", "1"]) == code
    assert capsys.readouterr().err.strip() == message


def test_a_programming_error_keeps_its_traceback(monkeypatch):
    monkeypatch.setattr(cli, "_import_quietly", lambda name: FakeCommand(KeyError("bug")))
    with pytest.raises(KeyError):
        cli.run_command("fake", "python -m monet_gan fake", "A fake.", [])


def test_quiet_import_mutes_native_stderr_only_while_importing(tmp_path):
    # A module that writes to file descriptor 2 on import, as TensorFlow's C++ logging does; run
    # in a fresh interpreter, where TensorFlow is not loaded yet.
    (tmp_path / "noisy_module.py").write_text(
        "import os\nos.write(2, b'native start-up chatter\\n')\n"
        "def add_arguments(parser): pass\ndef run(args): print('ran')\n"
    )
    (tmp_path / "broken_module.py").write_text("raise ImportError('a real problem')\n")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "MONET_GAN_COMMAND_LINE = True\n"
        "from monet_gan import cli\n"
        "cli._import_quietly('noisy_module')\n"
        "import os; os.write(2, b'after import\\n')\n"
        "cli._import_quietly('broken_module')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=60,
    )
    assert "native start-up chatter" not in completed.stderr
    assert "after import" in completed.stderr
    assert "ImportError: a real problem" in completed.stderr and completed.returncode != 0
