"""Training: optimizers and schedules, the jitted steps, fit's outputs, determinism, resume, errors."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import zoo
from zoo.errors import CheckpointError, NonFiniteLossError, TrainConfigError
from zoo.train import TrainConfig, evaluate, fit
from zoo.train.optim import decay_mask, lr_schedule, make_optimizer
from zoo.train.steps import smoothed_cross_entropy

TINY = zoo.ModelSpec(
    stages=(zoo.StageSpec(1, 8, 4, 1.0, 2), zoo.StageSpec(1, 16, 8, 1.0, 2)),
    stem_width=8,
    in_channels=1,
    num_classes=10,
    input_size=8,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    from zoo.data import open_split

    open_split("digits", "train", data_dir=path)  # prepare once for the module
    return str(path)


def quick(data_dir, **changes) -> TrainConfig:
    """A few steps on a slice of digits at 8x8: seconds, not minutes."""
    base = dict(
        dataset="digits",
        train_split="train[:256]",
        test_split="test[:64]",
        epochs=2,
        batch_size=32,
        image_size=8,
        lr=0.1,
        warmup_epochs=0.5,
        data_dir=data_dir,
    )
    return TrainConfig(**{**base, **changes})


def leaves(model) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model))]


def flat_leaves(tree) -> dict:
    """{'stem.conv.kernel': leaf, ...} for a state tree."""
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        names = [str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path]
        out[".".join(n for n in names if n not in ("value", "raw_value"))] = leaf
    return out


# -- optimizers and schedules ------------------------------------------------------------
def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    sched = lr_schedule(TrainConfig(epochs=10, lr=0.4, schedule="cosine", warmup_epochs=2), steps_per_epoch=10)
    assert float(sched(0)) == pytest.approx(0.02)
    assert float(sched(10)) == pytest.approx(0.21, rel=1e-5)
    assert float(sched(20)) == pytest.approx(0.4)
    assert float(sched(60)) == pytest.approx(0.2, rel=1e-5)
    assert float(sched(100)) == pytest.approx(0.0, abs=1e-7)


def test_step_and_constant_schedules():
    step = lr_schedule(TrainConfig(epochs=10, lr=1.0, schedule="step", step_epochs=(4, 8), warmup_epochs=0), 5)
    assert [float(step(s)) for s in (0, 19, 20, 39, 40)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    const = lr_schedule(TrainConfig(epochs=3, lr=0.3, schedule="constant", warmup_epochs=0), 5)
    assert float(const(0)) == float(const(14)) == pytest.approx(0.3)


def test_weight_decay_skips_batchnorm_and_bias_parameters():
    model = zoo.create(TINY.replace(options={"conv_bias": True}))
    params = nnx.state(model, nnx.Param)
    mask = decay_mask(params)
    flat = flat_leaves(mask)
    assert flat["stem.conv.kernel"] and not flat["stem.conv.bias"]
    assert not flat["stem.bn.scale"] and not flat["stem.bn.bias"]
    # With zero gradients, only decayed weights move.
    tx = make_optimizer(TrainConfig(lr=1.0, weight_decay=0.1, momentum=0.0, warmup_epochs=0), 10)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = jax.jit(tx.update)(zeros, tx.init(params), params)
    moved = {k: bool(jnp.any(v != 0)) for k, v in flat_leaves(updates).items()}
    assert moved["stem.conv.kernel"] and not moved["stem.conv.bias"] and not moved["stem.bn.scale"]


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adamw"])
def test_every_optimizer_lowers_the_loss_on_a_fixed_batch(name):
    w = {"w": jnp.ones((3, 2))}
    tx = make_optimizer(TrainConfig(optimizer=name, lr=0.05, warmup_epochs=0, clip_grad_norm=1.0), 10)
    state = tx.init(w)
    loss = lambda p: jnp.sum(p["w"] ** 2)  # noqa: E731
    start = loss(w)
    for _ in range(5):
        updates, state = tx.update(jax.grad(loss)(w), state, w)
        w = optax.apply_updates(w, updates)
    assert loss(w) < start


def test_label_smoothing_matches_the_formula():
    logits = jnp.array([[2.0, 0.0, -1.0]])
    logp = jax.nn.log_softmax(logits)[0]
    expected = -(0.9 + 0.1 / 3) * logp[0] - (0.1 / 3) * (logp[1] + logp[2])
    assert float(smoothed_cross_entropy(logits, jnp.array([0]), 0.1)[0]) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(optimizer="lamb"), "optimizer='lamb' is unknown"),
        (dict(schedule="poly"), "schedule='poly' is unknown"),
        (dict(lr=0), "lr=0 must be positive"),
        (dict(batch_size=0), "batch_size=0 must be at least 1"),
        (dict(epochs=4, schedule="step", step_epochs=(5,)), "step_epochs"),
        (dict(label_smoothing=1.0), "label_smoothing"),
    ],
)
def test_bad_settings_are_typed_errors(bad, match):
    with pytest.raises(TrainConfigError, match=match):
        TrainConfig(**bad)


def test_unknown_setting_is_a_typed_error():
    with pytest.raises(TrainConfigError, match="unknown training setting"):
        TrainConfig().replace(learning_rate=0.1)


# -- fit ---------------------------------------------------------------------------------
def test_fit_learns_and_writes_metrics_curves_and_weights(data_dir, tmp_path):
    out = tmp_path / "run"
    result = fit(
        TINY, quick(data_dir, epochs=3, train_split="train[:512]", test_split="test"), out_dir=out, progress=False
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "img_per_s", "lr"} <= set(rows[0])
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert result.test["top1"] > 0.3  # well above chance (0.1) after 48 steps of a 3k-parameter net
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    reloaded = zoo.load(f"local-dir:{out}")
    assert all(np.array_equal(a, b) for a, b in zip(leaves(reloaded), leaves(result.model)))
    again = evaluate(
        reloaded,
        "digits",
        "test",
        data_dir=data_dir,
        image_size=8,
        normalization=__import__("zoo.train.evaluate", fromlist=["x"]).saved_normalization(out),
    )
    assert again["top1"] == pytest.approx(result.test["top1"]) and again["count"] == 360


def test_same_seed_gives_identical_runs_and_another_seed_does_not(data_dir):
    config = quick(data_dir, epochs=1, train_split="train[:128]", precise_bn_images=0)
    a, b = fit(TINY, config, progress=False), fit(TINY, config, progress=False)
    c = fit(TINY, config.replace(seed=1), progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(leaves(a.model), leaves(b.model)))
    assert not all(np.array_equal(x, y) for x, y in zip(leaves(a.model), leaves(c.model)))


class Interrupted(Exception):
    pass


def _interrupt_at(step: int):
    def on_step(n: int) -> None:
        if n == step:
            raise Interrupted(n)

    return on_step


def test_resume_after_interruption_equals_an_uninterrupted_run(data_dir, tmp_path):
    config = quick(data_dir, checkpoint_every=3)
    whole = fit(TINY, config, out_dir=tmp_path / "whole", progress=False)
    with pytest.raises(Interrupted):
        fit(TINY, config, out_dir=tmp_path / "cut", progress=False, on_step=_interrupt_at(11))
    assert sorted(int(p.name) for p in (tmp_path / "cut" / "checkpoints").iterdir() if p.name.isdigit()) == [8, 9]
    # What a crash in the middle of writing step 12 leaves behind: an uncommitted temporary directory.
    ckpts = tmp_path / "cut" / "checkpoints"
    partial = ckpts / "12.orbax-checkpoint-tmp-1700000000"
    shutil.copytree(ckpts / "9", partial)
    for path in partial.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    resumed = fit(TINY, config, out_dir=tmp_path / "cut", resume=True, progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(leaves(whole.model), leaves(resumed.model)))
    assert [r["train_loss"] for r in resumed.history] == pytest.approx([r["train_loss"] for r in whole.history])
    assert resumed.test == pytest.approx(whole.test)


def test_resume_with_other_settings_is_refused(data_dir, tmp_path):
    fit(TINY, quick(data_dir, epochs=1), out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="lr: 0.1 -> 0.2"):
        fit(TINY, quick(data_dir, epochs=1, lr=0.2), out_dir=tmp_path, resume=True, progress=False)


def test_a_new_run_refuses_to_overwrite_another_runs_checkpoints(data_dir, tmp_path):
    fit(TINY, quick(data_dir, epochs=1), out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="already holds the checkpoints of a run.*resume=True"):
        fit(TINY, quick(data_dir, epochs=1), out_dir=tmp_path, progress=False)


def test_corrupt_checkpoint_is_a_typed_error(data_dir, tmp_path):
    fit(TINY, quick(data_dir, epochs=1), out_dir=tmp_path, progress=False)
    latest = tmp_path / "checkpoints" / "8"
    for path in (latest / "state").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"corrupt.*delete"):
        fit(TINY, quick(data_dir, epochs=1), out_dir=tmp_path, resume=True, progress=False)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
    config = quick(
        data_dir, lr=1e12, schedule="constant", warmup_epochs=0, weight_decay=0.0, momentum=0.0, checkpoint_every=1
    )
    with pytest.raises(NonFiniteLossError, match=r"(loss became|parameters became) .*last good checkpoint"):
        fit(TINY, config, out_dir=tmp_path, progress=False)
    from zoo.train.checkpoint import Checkpoints

    ckpts = Checkpoints(tmp_path / "checkpoints")
    assert ckpts.latest_step() is not None
    meta = json.loads(next((tmp_path / "checkpoints" / str(ckpts.latest_step()) / "meta").glob("*")).read_text())
    assert meta["position"]["batch"] >= 1
    ckpts.close()


def test_fine_tuning_from_a_saved_folder_makes_a_new_head(data_dir, tmp_path):
    from zoo.weights.pretrained import save_pretrained

    five = zoo.create(TINY.replace(num_classes=5), seed=7)
    save_pretrained(five, tmp_path / "five")
    with pytest.warns(UserWarning, match="head .*freshly initialised"):
        result = fit(
            f"local-dir:{tmp_path / 'five'}",
            quick(data_dir, epochs=1, lr=1e-9, schedule="constant", warmup_epochs=0, weight_decay=0.0),
            progress=False,
        )
    assert result.model.spec.num_classes == 10
    stem_before = np.asarray(five.stem.conv.kernel[...])
    assert np.allclose(np.asarray(result.model.stem.conv.kernel[...]), stem_before, atol=1e-6)


def test_num_classes_below_the_dataset_is_refused(data_dir):
    with pytest.raises(TrainConfigError, match="smaller than the 10 classes"):
        fit(TINY, quick(data_dir), num_classes=3, progress=False)
