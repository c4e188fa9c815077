"""Every example in README.md and docs/ runs: python blocks are executed, `zoo` lines are run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from zoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path, language: str) -> list[str]:
    found = re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.S)
    return [b.replace("\\\n", " ") for b in found] if language == "bash" else found


PYTHON = [(p.name, i, code) for p in DOCS for i, code in enumerate(blocks(p, "python"))]
# Read-only commands run here; commands that train, download or push run in their own suites.
READ_ONLY = {"list", "info", "summary", "plugins"}
ZOO_LINES = [
    (p.name, line.split("#")[0].strip())
    for p in DOCS
    for block in blocks(p, "bash")
    for line in block.splitlines()
    if line.startswith("zoo ") and shlex.split(line)[1] in READ_ONLY
]


@pytest.mark.parametrize("doc, index, code", PYTHON, ids=[f"{d}:{i}" for d, i, _ in PYTHON])
def test_python_examples_run(doc, index, code, capsys, fresh_plugins):
    exec(compile(code, f"{doc} block {index}", "exec"), {"__name__": f"doc_{index}"})


@pytest.mark.parametrize("doc, line", ZOO_LINES, ids=[line for _, line in ZOO_LINES])
def test_cli_examples_exit_zero(doc, line, capsys):
    assert main(shlex.split(line)[1:]) == 0


ALL_ZOO_LINES = [
    (p.name, line.split(" #")[0].strip())
    for p in DOCS
    for block in blocks(p, "bash")
    for line in block.splitlines()
    if line.startswith("zoo ")
]


@pytest.mark.parametrize("doc, line", ALL_ZOO_LINES, ids=[line for _, line in ALL_ZOO_LINES])
def test_every_documented_command_parses(doc, line):
    from zoo.cli import build_parser

    build_parser().parse_args(shlex.split(line)[1:])  # argparse exits on an unknown flag or command


def test_readme_opens_with_the_two_setup_commands():
    commands = [b.strip() for b in blocks(ROOT / "README.md", "bash")[:2]]
    assert commands[0].startswith("pip install") and "zoo " in commands[0]
    assert commands[1].startswith("pip install") and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_as_written():
    test_command = blocks(ROOT / "README.md", "bash")[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
