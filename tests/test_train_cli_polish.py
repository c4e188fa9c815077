"""The CLI tells the truth: compile notice, a run folder without --out, defaults in --help, quiet pipes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo.cli import main

TINY = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=1, num_classes=10, input_size=8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from zoo.weights.pretrained import save_pretrained

    path = tmp_path_factory.mktemp("tiny")
    save_pretrained(zoo.create(TINY), path)
    return str(path)


def test_train_without_out_writes_a_stamped_run_folder_and_leaves_compile_out_of_img_s(
    folder, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    args = ["--train-split", "train[:64]", "--test-split", "test[:32]", "--epochs", "1", "--image-size", "8"]
    assert main(["train", folder, *args, "--data-dir", str(tmp_path / "tfds")]) == 0
    captured = capsys.readouterr()
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and re.fullmatch(r"tiny\d*-\d{8}-\d{6}", runs[0].name)
    assert (runs[0] / "model.safetensors").is_file() and (runs[0] / "metrics.jsonl").is_file()
    assert f"zoo: writing the run to {Path('runs') / runs[0].name}/" in captured.err
    assert f"in {Path('runs') / runs[0].name}" in captured.out
    compile_s = float(re.search(r"zoo: compiling the train step\.\.\.\nzoo: compiled in ([\d.]+) s", captured.err)[1])
    row = json.loads((runs[0] / "metrics.jsonl").read_text().splitlines()[0])
    # Two tiny steps run in well under the compile time: a first epoch that counted it could not.
    assert row["seconds"] < compile_s and row["img_per_s"] == pytest.approx(64 / row["seconds"], rel=1e-6)


@pytest.mark.parametrize(
    "command, shown",
    [
        (["train"], ["(default: 0.05)", "(default: cosine)", "(default: digits)", "(default: 32)"]),
        (["eval"], ["(default: 256)", "(default: test)"]),
        (["list"], ["(default: *)"]),
    ],
)
def test_help_shows_the_defaults(command, shown, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(s in text for s in shown) and "(default: None)" not in text


def test_a_closed_pipe_ends_quietly():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte, as after `head -1` exits
    try:
        done = subprocess.run(
            [sys.executable, "-m", "zoo", "info", "regnetx32", "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.returncode == 1 and done.stderr == b""


def test_zoo_info_json_into_head_exits_quietly():
    done = subprocess.run(
        f"{sys.executable} -m zoo info regnetx32 --json | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == "{\n" and done.stderr == ""
