"""`zoo train --out DIR` writes only into a folder that is the run's own (issue 19, item 1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import zoo
from zoo.errors import CheckpointError
from zoo.train import TrainConfig, fit
from zoo.train.checkpoint import Checkpoints

TINY = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=1, num_classes=10, input_size=8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    from zoo.data import open_split

    open_split("digits", "train", data_dir=path)
    return str(path)


def quick(data_dir) -> TrainConfig:
    return TrainConfig(
        dataset="digits", train_split="train[:64]", test_split="test[:32]", epochs=1, batch_size=32,
        image_size=8, data_dir=data_dir,
    )  # fmt: skip


def test_a_folder_holding_a_saved_model_is_refused_and_left_as_it_was(data_dir, tmp_path):
    saved = tmp_path / "saved"
    zoo.save_pretrained(zoo.create(TINY, seed=3), saved)
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    with pytest.raises(CheckpointError, match=r"already holds files this run did not write \(config.json, "):
        fit(TINY, quick(data_dir), out_dir=saved, progress=False)
    assert {p.name: p.read_bytes() for p in saved.iterdir() if p.name in before} == before
    assert not (saved / "checkpoints").exists()


def test_overwrite_lets_a_run_replace_them(data_dir, tmp_path):
    saved = tmp_path / "saved"
    zoo.save_pretrained(zoo.create(TINY, seed=3), saved)
    old = (saved / "model.safetensors").read_bytes()
    fit(TINY, quick(data_dir), out_dir=saved, overwrite=True, progress=False)
    assert (saved / "model.safetensors").read_bytes() != old


def test_a_second_run_on_a_locked_folder_names_the_first_ones_pid(data_dir, tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from zoo.train.run_folder import claim_run_folder
            claim = claim_run_folder({str(out)!r}, resume=False, overwrite=False)
            print("held", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(CheckpointError, match=rf"another zoo train \(pid {holder.pid}\) is writing to"):
            fit(TINY, quick(data_dir), out_dir=out, progress=False)
    finally:
        holder.kill()
        holder.wait()
    fit(TINY, quick(data_dir), out_dir=out, progress=False)  # a dead holder leaves no stale lock


def test_resume_on_a_folder_without_checkpoints_says_there_is_nothing_to_resume(data_dir, tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        fit(TINY, quick(data_dir), out_dir=tmp_path / "empty", resume=True, progress=False)


def test_a_failed_checkpoint_leaves_no_temporary_folder(data_dir, tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    real = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):
        real(self, step, *args, **kwargs)  # writes the checkpoint, then the disk "fills" on the rename
        step_dir = tmp_path / "run" / "checkpoints" / str(step)
        step_dir.rename(step_dir.with_name(f"{step}.orbax-checkpoint-tmp-123"))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    with pytest.raises(CheckpointError, match="ENOSPC"):
        fit(TINY, quick(data_dir), out_dir=tmp_path / "run", progress=False)
    assert not list((tmp_path / "run" / "checkpoints").glob("*orbax-checkpoint-tmp*"))
    monkeypatch.undo()
    assert Checkpoints(tmp_path / "run" / "checkpoints").latest_step() is None


class Interrupted(Exception):
    pass


def _interrupt_at(step_no: int):
    def on_step(step: int) -> None:
        if step == step_no:
            raise Interrupted

    return on_step


def test_resume_with_ema_keeps_the_ema_weights(data_dir, tmp_path):
    config = quick(data_dir).replace(epochs=2, ema_decay=0.9, checkpoint_every=1)
    whole = fit(TINY, config, out_dir=tmp_path / "whole", progress=False)
    with pytest.raises(Interrupted):
        fit(TINY, config, out_dir=tmp_path / "cut", progress=False, on_step=_interrupt_at(3))
    resumed = fit(TINY, config, out_dir=tmp_path / "cut", resume=True, progress=False)
    a = zoo.weights.state_file.state_arrays(whole.model)
    b = zoo.weights.state_file.state_arrays(resumed.model)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # same machine, same computation
