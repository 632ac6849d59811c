"""Every command the README and docs/ show exists, with every option it is shown with.

The commands are read from the fenced code blocks and the inline code spans of README.md and
docs/*.md: `python -m monet_gan COMMAND --option`, `python submit.py --option` and
`python bench/NAME.py --option`. A package command's options come from its own argparse parser
(cli.COMMANDS names the module, whose add_arguments fills the parser). A benchmark's options are
read from the `add_argument` calls of its script: importing a script runs its set-up (one splits
the CPU into logical devices) and a `--help` subprocess per script costs a TensorFlow import each.
"""

import argparse
import ast
import functools
import glob
import os
import re
import shlex

import pytest

from monet_gan import cli

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = [os.path.join(PROJECT_ROOT, "README.md")] + sorted(
    glob.glob(os.path.join(PROJECT_ROOT, "docs", "*.md"))
)
FENCE = re.compile(r"^(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
ENVIRONMENT_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
OPTION = re.compile(r"^--[a-z0-9][a-z0-9-]*")


def fenced_lines(text):
    """The lines of the fenced code blocks of a Markdown text, with their line numbers."""
    inside = None
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line.strip())
        if fence and (inside is None or fence.group(1)[0] == inside):
            inside = None if inside else fence.group(1)[0]
        elif inside:
            yield number, line


def shown_commands(text):
    """(line number, command words) of every command a Markdown text shows that starts with python.

    A fenced line ending in a backslash, or followed by lines of options (a synopsis spread over
    several lines), continues on the next line; commands joined by && each count. Comments after
    # are dropped. Inline code spans that start with "python " count too.
    """
    lines = list(fenced_lines(text))
    commands = []
    index = 0
    while index < len(lines):
        number, line = lines[index]
        index += 1
        while index < len(lines) and (
            line.rstrip().endswith("\\") or lines[index][1].lstrip().startswith(("[", "--"))
        ):
            line = line.rstrip().removesuffix("\\") + " " + lines[index][1].strip()
            index += 1
        commands += [(number, part.strip()) for part in line.split("&&")]
    for number, line in enumerate(text.splitlines(), start=1):
        commands += [(number, span) for span in INLINE_CODE.findall(line)]
    # Leading NAME=value settings (KERAS_BACKEND=jax python ...) stay in the words.
    return [
        (number, shlex.split(command, comments=True))
        for number, command in commands if ENVIRONMENT_PREFIX.sub("", command).startswith("python ")
    ]


def options_of(words):
    """The long options among a command's words, without values, brackets or alternatives."""
    options = []
    for word in words:
        for part in re.split(r"[\[\]|]", word):
            match = OPTION.match(part)
            if match:
                options.append(match.group(0))
    return options


@functools.cache
def command_options(command):
    """The option strings of a `python -m monet_gan` command's parser."""
    module_name, _ = cli.COMMANDS[command]
    parser = argparse.ArgumentParser()
    cli._import_quietly(module_name).add_arguments(parser)
    return frozenset(option for action in parser._actions for option in action.option_strings)


@functools.cache
def bench_options(script):
    """The option strings a benchmark script's parser is given, read from its add_argument calls."""
    tree = ast.parse(open(os.path.join(PROJECT_ROOT, script)).read())
    options = {"-h", "--help"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            options.update(
                argument.value for argument in node.args
                if isinstance(argument, ast.Constant) and str(argument.value).startswith("-")
            )
    return frozenset(options)


def check_command(words):
    """An error message for a command the project does not have, or None when it is fine."""
    while words and "=" in words[0] and not words[0].startswith("-"):
        words = words[1:]  # An environment setting before the command.
    if words[:3] == ["python", "-m", "monet_gan"]:
        if len(words) < 4 or words[3] not in cli.COMMANDS:
            return f"no command {words[3:4]} in monet_gan.cli.COMMANDS"
        known, options = command_options(words[3]) | {"-h", "--help"}, options_of(words[4:])
    elif words[:2] == ["python", "submit.py"]:
        known, options = command_options("generate") | {"-h", "--help"}, options_of(words[2:])
    elif len(words) > 1 and words[0] == "python" and words[1].startswith("bench/"):
        if not os.path.isfile(os.path.join(PROJECT_ROOT, words[1])):
            return f"no benchmark script {words[1]}"
        known, options = bench_options(words[1]), options_of(words[2:])
    else:
        return None
    unknown = [option for option in options if option not in known]
    return f"unknown options {unknown}" if unknown else None


def test_the_documents_show_commands():
    commands = [words for path in DOCUMENTS for _, words in shown_commands(open(path).read())]
    assert any(words[:4] == ["python", "-m", "monet_gan", "demo"] for words in commands)
    assert any(words[:2] == ["python", "submit.py"] for words in commands)
    assert any(words[1:2] and words[1].startswith("bench/") for words in commands)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: os.path.relpath(path, PROJECT_ROOT))
def test_every_shown_command_exists_with_its_options(path):
    problems = [
        f"{os.path.relpath(path, PROJECT_ROOT)}:{number}: {' '.join(words)}: {problem}"
        for number, words in shown_commands(open(path).read())
        for problem in [check_command(words)] if problem
    ]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_wrong_command_and_option():
    text = "\n".join([
        "```bash",
        "python -m monet_gan train --run-dir runs/x \\",
        "    --no-such-option 3   # a comment --ignored",
        "python -m monet_gan paint",
        "python submit.py --ckpt runs/x [--limit N | --bogus]",
        "python bench/missing.py",
        "python bench/input_pipeline.py --images 10 --colour",
        "```",
        "Inline: `python -m monet_gan mifid images.zip --jsn`.",
    ])
    problems = [check_command(words) for _, words in shown_commands(text)]
    assert problems == [
        "unknown options ['--no-such-option']",
        "no command ['paint'] in monet_gan.cli.COMMANDS",
        "unknown options ['--bogus']",
        "no benchmark script bench/missing.py",
        "unknown options ['--colour']",
        "unknown options ['--jsn']",
    ]


def test_the_ci_runs_the_readme_test_command():
    readme = open(os.path.join(PROJECT_ROOT, "README.md")).read()
    ci = open(os.path.join(PROJECT_ROOT, ".ci", "run")).read()
    readme_commands = {" ".join(words) for _, words in shown_commands(readme)}
    # The project stage runs the README's commands; the Kaggle stage runs a part of the suite in
    # another environment (README: `bash .ci/run kaggle`).
    project_stage = ci.split('if [ "$stages" != project ]')[0]
    ci_commands = {line.strip() for line in project_stage.splitlines()
                   if "pytest" in line and not line.strip().startswith("#")}
    assert "bash .ci/run kaggle" in readme
    assert ci_commands and ci_commands <= readme_commands
