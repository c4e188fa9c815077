"""`zoo train --quiet`: one line per epoch on stderr and the result on stdout, nothing else."""

from __future__ import annotations

import subprocess
import sys
import warnings

from zoo.cli.console import one_line_zoo_warnings
from zoo.weights.adapt import PretrainedAdaptationWarning


def test_quiet_train_prints_one_line_per_epoch_even_while_preparing_data(tmp_path):
    """A fresh tfds data dir, so the dataset is prepared in this run too (tfds' bars and logs)."""
    argv = ["train", "regnetx32", "--epochs", "2", "--quiet", "--out", str(tmp_path / "run")]
    argv += ["--data-dir", str(tmp_path / "tfds")]
    done = subprocess.run([sys.executable, "-m", "zoo", *argv], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    err, out = done.stderr.splitlines(), done.stdout.splitlines()
    assert len(err) == 2 and all(line.startswith(f"epoch {i + 1}:") for i, line in enumerate(err)), err
    assert len(out) == 2 and out[0].startswith("digits test: top-1") and out[1].startswith("weights, "), out


def test_zoo_warnings_are_one_line_without_the_source(capsys):
    previous = warnings.formatwarning
    try:
        one_line_zoo_warnings()
        text = warnings.formatwarning("new head for 3 classes", PretrainedAdaptationWarning, "x.py", 1, "src")
        other = warnings.formatwarning("deprecated", DeprecationWarning, "x.py", 1, "source line")
    finally:
        warnings.formatwarning = previous
    assert text == "zoo: warning: new head for 3 classes\n"
    assert "source line" in other  # other libraries' warnings keep Python's format
