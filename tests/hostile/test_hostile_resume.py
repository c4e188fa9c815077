"""`--resume` never drops or mislabels the EMA state (issue 19, item 1): a resume whose EMA setting differs
from the run's is refused as a settings mismatch naming the flag, never reported as a corrupt checkpoint
the user is told to delete."""

from __future__ import annotations

import shutil

import pytest

import zoo
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


def quick(data_dir: str, ema: float) -> TrainConfig:
    return TrainConfig(
        train_split="train[:64]", test_split="test[:32]", epochs=1, batch_size=32, image_size=8,
        precise_bn_images=32, data_dir=data_dir, ema_decay=ema,
    )  # fmt: skip


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory):
    """One finished run per EMA setting, trained once and copied for each test."""
    runs = {}
    for ema in (0.0, 0.9):
        runs[ema] = tmp_path_factory.mktemp(f"ema{ema}") / "run"
        fit(TINY, quick(data_dir, ema), out_dir=runs[ema], progress=False)
    return runs


@pytest.mark.parametrize(
    ("saved", "resumed", "remedy"),
    [(0.9, 0.0, "pass --ema 0.9"), (0.0, 0.9, "drop --ema"), (0.9, 0.5, "pass --ema 0.9")],
)
def test_resume_with_another_ema_setting_names_it_and_keeps_the_checkpoints(
    data_dir, finished, tmp_path, saved, resumed, remedy
):
    out = tmp_path / "run"
    shutil.copytree(finished[saved], out)
    before = Checkpoints(out / "checkpoints").latest_step()

    with pytest.raises(CheckpointError) as info:
        fit(TINY, quick(data_dir, resumed).replace(epochs=2), out_dir=out, resume=True, progress=False)

    message = str(info.value)
    assert f"ema_decay: {saved} -> {resumed}" in message and remedy in message
    assert "corrupt" not in message and "delete" not in message
    assert Checkpoints(out / "checkpoints").latest_step() == before
