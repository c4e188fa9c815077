"""Ctrl-C in `zoo train`: exit status 130, one line, no traceback, and the last checkpoint whole."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from zoo.train.checkpoint import Checkpoints


def _committed_steps(folder: Path) -> list[int]:
    return sorted(int(p.name) for p in folder.glob("*") if p.name.isdigit())


def test_ctrl_c_exits_130_with_the_last_checkpoint_intact(tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "zoo", "train", "regnetx32", "--epochs", "3", "--checkpoint-every", "3"]
    # A job started in the background of a non-interactive shell (CI) inherits SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler: give the run the default, as a terminal would.
    proc = subprocess.Popen(
        [*argv, "--out", str(out), "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    while not _committed_steps(out / "checkpoints") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before a checkpoint was seen"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"zoo: interrupted (train); to continue, rerun the same command with --out {out} --resume"
    )
    folder = out / "checkpoints"
    assert not list(folder.glob("*orbax-checkpoint-tmp*")), "a cut-off save was left behind"
    steps = _committed_steps(folder)
    assert steps and steps[-1] % 3 == 0
    checkpoints = Checkpoints(folder)
    try:
        meta = checkpoints.read_meta()
    finally:
        checkpoints.close()
    assert meta is not None and "position" in meta
