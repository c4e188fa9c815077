"""`zoo sweep run` options: recipe flags reach the manifest, and --keep-weights saves models that predict
the error their row records."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.errors import SweepError
from zoo.spec import ModelSpec, StageSpec
from zoo.sweep.runner import make_manifest, run_sweep
from zoo.sweep.table import read_rows
from zoo.sweep.worker import process_worker, recipe_config

TINY = ModelSpec(
    stages=(StageSpec(1, 8, 8), StageSpec(2, 16, 8)),
    stem="cifar",
    stem_width=8,
    num_classes=10,
    in_channels=1,
    input_size=8,
    options={"zero_init_last_bn": True},
)
RECIPE = {
    "dataset": "digits",
    "train_split": "train[:64]",
    "test_split": "test[:32]",
    "epochs": 1,
    "batch_size": 32,
    "image_size": 8,
    "augment": False,
    "precise_bn_images": 0,
    "optimizer": "nesterov",
    "warmup_epochs": 0.0,
}
TEST_IMAGES = 32


def test_recipe_flags_reach_the_manifest(tmp_path, monkeypatch):
    import zoo.sweep.runner as runner

    seen = {}

    def no_training(out, manifest, trials, **kw):
        seen.update(manifest=manifest, kw=kw)
        return runner.SweepReport()

    monkeypatch.setattr(runner, "run_sweep", no_training)
    argv = ["sweep", "run", "regnet", "--n", "1", "--workers", "0", "--out", str(tmp_path / "s"), "--epochs", "3"]
    flags = ["--weight-decay", "0.0001", "--schedule", "step", "--warmup-epochs", "0", "--no-augment"]
    assert main([*argv, *flags, "--keep-weights"]) == 0
    recipe = seen["manifest"]["recipe"]
    assert (recipe["weight_decay"], recipe["schedule"], recipe["warmup_epochs"], recipe["augment"]) == (
        0.0001,
        "step",
        0.0,
        False,
    )
    assert recipe["epochs"] == 3 and seen["kw"]["keep_weights"] is True
    assert main(argv) == 0
    recipe = seen["manifest"]["recipe"]
    assert (recipe["weight_decay"], recipe["schedule"], recipe["augment"]) == (5e-4, "cosine", True)
    assert seen["kw"]["keep_weights"] is False


def test_a_bad_schedule_is_refused_while_parsing(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "run", "regnet", "--out", "x", "--schedule", "linear"])
    assert exit_.value.code == 2 and "--schedule" in capsys.readouterr().err


def tiny_trials(n: int) -> list[dict]:
    return [
        {
            "trial": i,
            "space": "tiny",
            "sweep_seed": 0,
            "params": {},
            "spec": TINY.to_dict(),
            "complexity": {"flops": 1, "params": 1, "acts": 1},
        }
        for i in range(n)
    ]


def measured_error(model, recipe: dict) -> float:
    """The test error of `model` on the recipe's test split, preprocessed as the worker does."""
    config = recipe_config(recipe)
    data = process_worker().data(config, TINY.in_channels, TINY.num_classes)
    (images, labels, _), *_ = data.eval_set
    model.eval()
    return float(np.mean(np.argmax(np.asarray(model(images)), -1) != np.asarray(labels)))


@pytest.mark.parametrize("layerwise", [True, False], ids=["layerwise", "whole-model"])
def test_kept_weights_predict_the_error_their_row_records(tmp_path, layerwise):
    recipe = {**RECIPE, "layerwise": layerwise}
    manifest = make_manifest("tiny", 2, 0, (), TINY, recipe, workers=0)
    report = run_sweep(tmp_path, manifest, tiny_trials(2), keep_weights=True, log=lambda _: None)
    assert report.finished == [0, 1] and not report.failed
    rows = read_rows(tmp_path)
    assert [r["weights"] for r in rows] == ["weights/trial-0000.safetensors", "weights/trial-0001.safetensors"]
    assert all("weights_path" not in r for r in rows)
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        "trial-0000.safetensors",
        "trial-0001.safetensors",
    ]  # no temp files left behind
    for r in rows:
        model = zoo.load(ModelSpec.from_dict(r["spec"]), checkpoint_path=tmp_path / r["weights"])
        assert abs(measured_error(model, recipe) - r["error"]) <= 1 / TEST_IMAGES + 1e-6


def test_without_keep_weights_nothing_is_saved(tmp_path):
    manifest = make_manifest("tiny", 1, 0, (), TINY, {**RECIPE, "layerwise": True}, workers=0)
    run_sweep(tmp_path, manifest, tiny_trials(1), log=lambda _: None)
    assert "weights" not in read_rows(tmp_path)[0] and not (tmp_path / "weights").exists()


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x.safetensors", "weights/../../x", "C:/x", 3])
def test_a_row_whose_weights_point_outside_the_folder_is_refused(tmp_path, bad):
    (tmp_path / "results.jsonl").write_text(json.dumps({"trial": 0, "error": 0.1, "weights": bad}) + "\n")
    with pytest.raises(SweepError, match="not a path inside the sweep folder"):
        read_rows(tmp_path)
