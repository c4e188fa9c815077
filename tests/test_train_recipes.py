"""Mixed precision, weight EMA and extending a finished run: tiny runs on a slice of digits."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import load_file

import zoo
from zoo.errors import CheckpointError, SpecError
from zoo.train import TrainConfig, fit
from zoo.train.loop import evaluate_weights
from zoo.train.report import read_metrics
from zoo.train.steps import TrainState

TINY = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=1, num_classes=10, input_size=8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from zoo.data import open_split

    path = tmp_path_factory.mktemp("tfds")
    open_split("digits", "train", data_dir=path)
    return str(path)


def quick(data_dir, **changes) -> TrainConfig:
    base = dict(
        train_split="train[:128]",
        test_split="test[:64]",
        epochs=1,
        batch_size=32,
        image_size=8,
        lr=0.1,
        warmup_epochs=0,
        precise_bn_images=64,
        data_dir=data_dir,
    )
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def baseline(data_dir, tmp_path_factory):
    """One float32 run without EMA, shared by the comparisons below (each fit costs a compile)."""
    return fit(TINY, quick(data_dir), out_dir=tmp_path_factory.mktemp("baseline"), progress=False)


def params_of(model) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


def test_create_with_bfloat16_computes_in_bf16_and_keeps_float32_parameters():
    model = zoo.create(TINY, dtype=jnp.bfloat16)
    model.eval()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 1)), jnp.float32)
    low = model(x)
    assert low.dtype == jnp.bfloat16
    assert {p.dtype for p in params_of(model)} == {np.dtype("float32")}
    assert {np.asarray(v).dtype for v in jax.tree.leaves(nnx.state(model, nnx.BatchStat))} == {np.dtype("float32")}
    full = zoo.create(TINY)
    full.eval()
    reference = full(x)
    assert not np.array_equal(np.asarray(low, np.float32), np.asarray(reference))  # bf16 really was used
    assert np.allclose(np.asarray(low, np.float32), np.asarray(reference), atol=2e-2)


def test_an_unknown_dtype_is_a_spec_error():
    with pytest.raises(SpecError, match="not a compute dtype"):
        zoo.create(TINY, dtype="int8")


def test_a_bfloat16_run_trains_like_float32_and_keeps_float32_weights(data_dir, baseline):
    full = baseline
    half = fit(TINY, quick(data_dir, dtype="bfloat16"), progress=False)
    assert {p.dtype for p in params_of(half.model)} == {np.dtype("float32")}
    loss, loss_bf16 = full.history[0]["train_loss"], half.history[0]["train_loss"]
    assert loss_bf16 != loss and loss_bf16 == pytest.approx(loss, abs=0.05)


def test_an_ema_run_evaluates_raw_and_ema_weights_and_saves_the_better(data_dir, baseline, tmp_path):
    ema = fit(TINY, quick(data_dir, ema_decay=0.9), out_dir=tmp_path / "ema", progress=False)
    row = ema.history[-1]
    assert row["weights"] in ("raw", "ema") and ema.weights == row["weights"]
    # Same seed, same batches: the raw weights are the no-EMA run's (precise BN recomputes their statistics).
    assert row["val_acc_raw"] == pytest.approx(baseline.history[-1]["val_acc"])
    assert row["val_acc"] == max(row["val_acc_raw"], row["val_acc_ema"]) == ema.test["top1"]
    assert row["val_loss"] == row[f"val_loss_{row['weights']}"]
    saved = load_file(tmp_path / "ema" / "model.safetensors")
    kernel = np.asarray(ema.model.stem.conv.kernel[...])
    assert np.array_equal(saved["stem.conv.kernel"], kernel)
    config = json.loads((tmp_path / "ema" / "config.json").read_text())
    assert config["training"] == {"weights": row["weights"], "ema_decay": 0.9}
    lines = read_metrics(tmp_path / "ema" / "metrics.jsonl")
    assert lines[-1]["val_acc_ema"] == row["val_acc_ema"]


def test_a_run_without_ema_has_todays_metrics_and_config(baseline):
    row = baseline.history[-1]
    assert not any(key.endswith(("_raw", "_ema")) for key in row) and "weights" not in row
    assert "training" not in json.loads((baseline.out_dir / "config.json").read_text())
    assert baseline.weights == "raw"


class _Scores:
    """An evaluator whose top-1 is the params' value, so which weights are better is chosen by the test."""

    def __call__(self, params, rest):
        return {"loss": 1.0 - float(params), "top1": float(params), "top5": 1.0, "count": 1}


@pytest.mark.parametrize("raw, ema, better", [(0.5, 0.7, "ema"), (0.8, 0.7, "raw"), (0.7, 0.7, "ema")])
def test_the_better_of_raw_and_ema_weights_is_kept(raw, ema, better):
    state = TrainState(raw, {}, None, jnp.zeros((), jnp.int32), None, {"params": ema, "rest": {}})
    chosen, scores = evaluate_weights(state, None, _Scores(), epoch=0)
    assert next(iter(scores)) == better and chosen.params == {"raw": raw, "ema": ema}[better]
    assert set(scores) == {"raw", "ema"}


def test_resume_extends_a_constant_schedule_run_to_what_a_longer_run_gives(data_dir, tmp_path):
    config = quick(data_dir, schedule="constant", epochs=1, ema_decay=0.9)  # the EMA resumes too
    fit(TINY, config, out_dir=tmp_path / "short", progress=False)
    extended = fit(TINY, config.replace(epochs=2), out_dir=tmp_path / "short", resume=True, progress=False)
    longer = fit(TINY, config.replace(epochs=2), out_dir=tmp_path / "long", progress=False)
    assert [r["epoch"] for r in extended.history] == [1, 2]
    assert all(np.array_equal(a, b) for a, b in zip(params_of(extended.model), params_of(longer.model)))
    assert extended.test == pytest.approx(longer.test)


def test_resume_refuses_to_extend_a_cosine_run(data_dir, baseline):
    assert quick(data_dir).schedule == "cosine"
    with pytest.raises(CheckpointError, match="depend on the total of 1 epochs, so it cannot be extended to 2"):
        fit(TINY, quick(data_dir, epochs=2), out_dir=baseline.out_dir, resume=True, progress=False)
