"""Training fails in one line: disk full, read-only --out, a truncated checkpoint, an empty split."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import zoo
from zoo.cli import main
from zoo.errors import CheckpointError
from zoo.train import TrainConfig, fit
from zoo.train.checkpoint import Checkpoints

TINY = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=1, num_classes=10, input_size=8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from zoo.data import open_split

    path = tmp_path_factory.mktemp("tfds")
    open_split("digits", "train", data_dir=path)
    return str(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from zoo.weights.pretrained import save_pretrained

    path = tmp_path_factory.mktemp("tiny")
    save_pretrained(zoo.create(TINY), path)
    return str(path)


def quick(data_dir, **changes) -> TrainConfig:
    base = dict(
        train_split="train[:128]",
        test_split="test[:64]",
        epochs=2,
        batch_size=32,
        image_size=8,
        precise_bn_images=32,
        data_dir=data_dir,
    )
    return TrainConfig(**{**base, **changes})


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@contextlib.contextmanager
def small_disk(path: Path, monkeypatch):
    """A 4 MiB tmpfs where this machine lets us mount one; elsewhere orbax's write fails as tensorstore
    reports a full disk (the same error text), so the test holds everywhere."""
    if _mount(path, "size=4m"):
        try:
            yield "tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
    else:
        yield "patched"


def _fill(path: Path) -> None:
    # Unbuffered, so closing the file has nothing left to flush (a buffered close raises ENOSPC a second time).
    with open(path / f"filler-{uuid.uuid4().hex}", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as err:
            assert err.errno == errno.ENOSPC


def test_disk_full_during_training_is_one_error_and_keeps_the_last_checkpoint(data_dir, tmp_path, monkeypatch, capfd):
    disk = tmp_path / "disk"
    with small_disk(disk, monkeypatch) as kind:
        out = disk / "run"
        if kind == "tmpfs":

            def on_step(step: int) -> None:
                if step == 5:
                    _fill(disk)
        else:
            import orbax.checkpoint as ocp

            real = ocp.CheckpointManager.save

            def save(self, step, *args, **kwargs):
                if step > 4:
                    raise ValueError(f"RESOURCE_EXHAUSTED: Error writing \"x\" in {out}: [os_error_code='28']")
                return real(self, step, *args, **kwargs)

            monkeypatch.setattr(ocp.CheckpointManager, "save", save)
            on_step = None
        with pytest.raises(CheckpointError) as info:
            fit(TINY, quick(data_dir), out_dir=out, progress=False, on_step=on_step)
        message = str(info.value)
        assert "ENOSPC: No space left on device" in message and str(out / "checkpoints" / "8") in message
        assert "last good checkpoint is step 4" in message and "resume=True" in message
        assert "Traceback" not in capfd.readouterr().err  # orbax's writer threads stay quiet
        for filler in disk.glob("filler-*"):
            filler.unlink()
        monkeypatch.undo()
        assert Checkpoints(out / "checkpoints").latest_step() == 4
        resumed = fit(TINY, quick(data_dir), out_dir=out, resume=True, progress=False)
        assert [r["epoch"] for r in resumed.history] == [1, 2]


def _read_only_dir(tmp_path: Path) -> Path:
    path = tmp_path / "read-only"
    if not _mount(path, "ro,size=1m"):
        path.chmod(0o555)
    return path


def test_read_only_out_is_one_line(folder, data_dir, tmp_path, capsys):
    path = _read_only_dir(tmp_path)
    try:
        code = main(["train", folder, "--data-dir", data_dir, "--quiet", "--out", str(path / "run")])
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("zoo: error: could not write the run folder")
    assert "Read-only file system" in err or "Permission denied" in err


def test_truncated_checkpoint_is_one_complete_line_without_event_loop_noise(folder, data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["--train-split", "train[:64]", "--test-split", "test[:32]", "--epochs", "1", "--image-size", "8"]
    args += ["--data-dir", data_dir, "--quiet", "--out", str(out)]
    assert main(["train", folder, *args]) == 0
    for path in (out / "checkpoints" / "2").rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    done = subprocess.run(
        [sys.executable, "-m", "zoo", "train", folder, *args, "--resume"], capture_output=True, text=True, timeout=300
    )
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("WARNING:absl")]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("zoo: error: checkpoint ") and "corrupt or incomplete" in lines[0]
    assert lines[0].endswith("or start again without --resume") and "Event loop is closed" not in done.stderr


def test_an_empty_split_says_so_instead_of_blaming_the_dataset(folder, data_dir, capsys):
    assert main(["train", folder, "--data-dir", data_dir, "--quiet", "--train-split", "train[:0]"]) == 2
    err = capsys.readouterr().err
    assert "split 'train[:0]' selects no examples" in err and "delete" not in err
