"""Training staples (issue #24): gradient accumulation, mixup/cutmix, RandAugment, epoch loggers.
Each option changes what it should and nothing else; with every one off a run is today's, bit for bit."""

from __future__ import annotations

import csv
import sys
import types
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import zoo
from zoo.cli.train import as_flags
from zoo.data.mixing import Mixing
from zoo.errors import TrainConfigError
from zoo.train import TrainConfig, fit
from zoo.train.optim import lr_schedule, make_optimizer
from zoo.train.run import open_run
from zoo.train.steps import TrainState, batch_loss, hard_labels, make_train_step, split_model

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


def leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def model_leaves(model) -> list[np.ndarray]:
    return leaves(nnx.state(model))


# -- gradient accumulation -------------------------------------------------------------------------
def _eval_mode_step(config: TrainConfig, steps_per_epoch: int):
    """A jitted step over the eval-mode graph (BN uses its running statistics, so a batch's gradient is
    the mean of its examples' and K half batches add up to one whole batch), and its first state."""
    model = zoo.create(TINY, seed=0)
    _, eval_def, params, rest = split_model(model)
    tx = make_optimizer(config, steps_per_epoch)
    ema = jax.tree.map(jnp.copy, {"params": params, "rest": rest})
    state = TrainState(params, rest, tx.init(params), jnp.zeros((), jnp.int32), jnp.zeros(2, jnp.uint32), ema)
    step = jax.jit(make_train_step(eval_def, tx, 0.0, config.ema_decay, config.accum_steps))
    return step, state


def test_accumulating_two_half_batches_updates_once_like_one_step_on_the_whole_batch():
    recipe = dict(epochs=2, lr=0.1, warmup_epochs=1, schedule="cosine", clip_grad_norm=0.5, ema_decay=0.9)
    # batch 8 accumulated twice (10 steps an epoch) against batch 16 (5 steps an epoch): one schedule
    small, small_state = _eval_mode_step(TrainConfig(batch_size=8, accum_steps=2, **recipe), steps_per_epoch=10)
    big, big_state = _eval_mode_step(TrainConfig(batch_size=16, **recipe), steps_per_epoch=5)
    rng = np.random.default_rng(0)
    for _ in range(3):
        images = jnp.asarray(rng.normal(size=(16, 8, 8, 1)), jnp.float32)
        labels = jnp.asarray(rng.integers(0, 10, 16), jnp.int32)
        before = leaves((small_state.params, small_state.ema))
        small_state, _ = small(small_state, images[:8], labels[:8])
        # the first half only accumulates: neither the weights nor their EMA move
        assert all(np.array_equal(a, b) for a, b in zip(before, leaves((small_state.params, small_state.ema))))
        small_state, _ = small(small_state, images[8:], labels[8:])
        big_state, _ = big(big_state, images, labels)
        for a, b in zip(leaves((small_state.params, small_state.ema)), leaves((big_state.params, big_state.ema))):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert int(small_state.step) == 6 and int(big_state.step) == 3


def test_the_schedule_counts_optimizer_updates():
    accumulated = lr_schedule(TrainConfig(epochs=4, warmup_epochs=1, accum_steps=4), steps_per_epoch=20)
    whole = lr_schedule(TrainConfig(epochs=4, warmup_epochs=1), steps_per_epoch=5)
    assert [float(accumulated(i)) for i in range(20)] == [float(whole(i)) for i in range(20)]


class Interrupted(Exception):
    pass


def _interrupt_at(step: int):
    def on_step(n: int) -> None:
        if n == step:
            raise Interrupted(n)

    return on_step


def test_a_run_interrupted_mid_accumulation_resumes_to_the_same_weights(data_dir, tmp_path):
    config = quick(data_dir, accum_steps=3, epochs=2, checkpoint_every=5, ema_decay=0.9)
    whole = fit(TINY, config, out_dir=tmp_path / "whole", progress=False)
    with pytest.raises(Interrupted):  # at step 7 of 8: checkpoint 5 holds two steps' accumulated gradients
        fit(TINY, config, out_dir=tmp_path / "cut", progress=False, on_step=_interrupt_at(7))
    resumed = fit(TINY, config, out_dir=tmp_path / "cut", resume=True, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(model_leaves(whole.model), model_leaves(resumed.model)))
    assert whole.history[-1]["lr"] == pytest.approx(float(lr_schedule(config, 4)(1)))  # update 2 of 2 (8 // 3)


# -- mixup and cutmix -----------------------------------------------------------------------------
def smoothed_one_hot(labels, classes: int, smoothing: float) -> np.ndarray:
    return np.eye(classes)[labels] * (1 - smoothing) + smoothing / classes


def test_mixup_blends_each_image_with_its_mirror_and_the_smoothed_targets_alike():
    mixing = Mixing(10, mixup_alpha=0.4, label_smoothing=0.1)
    mix = mixing.draw(np.random.default_rng(0), 8, 8)
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 1)).astype(np.float32)
    y = np.array([1, 2, 3, 4])
    images, targets = mixing.apply(mix, x, y, x[::-1], y[::-1])
    assert mix.box is None and 0 < mix.lam < 1
    np.testing.assert_allclose(images, mix.lam * x + (1 - mix.lam) * x[::-1], rtol=1e-6, atol=1e-6)
    expected = mix.lam * smoothed_one_hot(y, 10, 0.1) + (1 - mix.lam) * smoothed_one_hot(y[::-1], 10, 0.1)
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    assert targets.dtype == np.float32 and np.allclose(targets.sum(axis=1), 1)


def test_mixup_lambda_follows_beta_alpha_alpha():
    mixing = Mixing(10, mixup_alpha=0.4)
    rng = np.random.default_rng(0)
    lams = np.array([mixing.draw(rng, 8, 8).lam for _ in range(4000)])
    assert lams.mean() == pytest.approx(0.5, abs=0.02)
    assert lams.var() == pytest.approx(1 / (4 * (2 * 0.4 + 1)), abs=0.01)  # Beta(a, a): 1 / (4 (2a + 1))


def test_cutmix_pastes_a_box_of_the_mirror_and_lambda_is_the_share_outside_it():
    mixing = Mixing(10, cutmix_alpha=1.0)
    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).normal(size=(4, 12, 10, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    for _ in range(50):
        mix = mixing.draw(rng, 12, 10)
        top, bottom, left, right = mix.box
        assert 0 <= top <= bottom <= 12 and 0 <= left <= right <= 10
        assert mix.lam == pytest.approx(1 - (bottom - top) * (right - left) / 120)
        images, targets = mixing.apply(mix, x, y, x[::-1], y[::-1])
        inside = np.zeros((12, 10), bool)
        inside[top:bottom, left:right] = True
        assert np.array_equal(images[:, inside], x[::-1][:, inside])
        assert np.array_equal(images[:, ~inside], x[:, ~inside])
        np.testing.assert_allclose(targets, mix.lam * np.eye(10)[y] + (1 - mix.lam) * np.eye(10)[y[::-1]], atol=1e-6)


def test_with_both_on_each_batch_is_cutmix_with_the_switch_probability():
    mixing = Mixing(10, mixup_alpha=0.2, cutmix_alpha=1.0, switch_prob=0.25)
    rng = np.random.default_rng(0)
    cut = np.mean([mixing.draw(rng, 8, 8).box is not None for _ in range(4000)])
    assert cut == pytest.approx(0.25, abs=0.02)


def test_soft_targets_give_the_loss_the_labels_give():
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(6, 10)), jnp.float32)
    labels = jnp.asarray([0, 3, 9, 2, 2, 5], jnp.int32)
    soft = jnp.asarray(smoothed_one_hot(np.asarray(labels), 10, 0.1), jnp.float32)
    assert float(batch_loss(logits, soft, 0.0)) == pytest.approx(float(batch_loss(logits, labels, 0.1)), rel=1e-6)
    assert np.array_equal(hard_labels(soft), labels)


def _batches(data_dir, pipeline, **kwargs) -> list:
    from zoo.data import iterate_batches, open_split

    split = open_split("digits", "train[:64]", data_dir=data_dir)
    return list(iterate_batches(split, pipeline, 16, train=True, seed=5, epoch=1, prefetch=0, **kwargs))


@pytest.fixture(scope="module")
def plain_pipeline(data_dir):
    from zoo.data import Pipeline, normalization_for, open_split

    norm = normalization_for(open_split("digits", "train[:64]", data_dir=data_dir), 1)
    return Pipeline(8, 1, norm, augment=True, flip=False)


def test_mixing_changes_only_the_images_and_targets_of_training_batches(data_dir, plain_pipeline):
    mixing = Mixing(10, mixup_alpha=0.4, cutmix_alpha=1.0, label_smoothing=0.1)
    mixed = _batches(data_dir, replace(plain_pipeline, mixing=mixing))
    plain = _batches(data_dir, plain_pipeline)
    assert len(mixed) == len(plain) == 4
    for b, (m, p) in enumerate(zip(mixed, plain)):
        assert p.targets is None and np.array_equal(m.labels, p.labels) and np.array_equal(m.weights, p.weights)
        mix = mixing.draw(np.random.default_rng([5, 1, b, 2]), 8, 8)  # seeded by (seed, epoch, batch)
        images, targets = mixing.apply(mix, p.images, p.labels, p.images[::-1], p.labels[::-1])
        assert np.array_equal(m.images, images) and np.array_equal(m.targets, targets)
    assert any(m.targets.max() < 0.9 for m in mixed)  # really mixed


def test_mixed_batches_are_the_same_for_any_process_count(data_dir, plain_pipeline):
    pipeline = replace(plain_pipeline, mixing=Mixing(10, mixup_alpha=0.4, cutmix_alpha=1.0))
    whole = _batches(data_dir, pipeline)
    halves = [_batches(data_dir, pipeline, process_index=i, process_count=2) for i in range(2)]
    for w, first, second in zip(whole, *halves):
        assert np.array_equal(w.images, np.concatenate([first.images, second.images]))
        assert np.array_equal(w.targets, np.concatenate([first.targets, second.targets]))


def test_a_mixed_run_trains_on_soft_targets_and_evaluates_clean_images(data_dir):
    config = quick(data_dir, mixup_alpha=0.4, cutmix_alpha=1.0, label_smoothing=0.1)
    result = fit(TINY, config, progress=False)
    plain = fit(TINY, quick(data_dir, label_smoothing=0.1), progress=False)
    row, base = result.history[-1], plain.history[-1]
    assert np.isfinite(row["train_loss"]) and row["train_loss"] != base["train_loss"]
    run = open_run(TINY, config)
    assert run.train_pipe.mixing == Mixing(10, 0.4, 1.0, 0.5, 0.1) and run.eval_pipe.mixing is None


# -- epoch loggers --------------------------------------------------------------------------------
class FakeSummaryWriter:
    """tensorboardX's SummaryWriter as far as the logger uses it."""

    made: list[FakeSummaryWriter] = []

    def __init__(self, logdir: str):
        self.logdir, self.scalars, self.closed = logdir, [], False
        FakeSummaryWriter.made.append(self)

    def add_scalar(self, name, value, step):
        self.scalars.append((name, value, step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_each_epoch_row_goes_to_on_log_metrics_csv_and_tensorboard(data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", types.SimpleNamespace(SummaryWriter=FakeSummaryWriter))
    FakeSummaryWriter.made.clear()
    rows: list[dict] = []
    result = fit(
        TINY, quick(data_dir, epochs=2, tensorboard=True), out_dir=tmp_path, progress=False, on_log=rows.append
    )
    assert rows == result.history and len(rows) == 2
    with open(tmp_path / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [{k: float(v) for k, v in r.items()} for r in table] == [{k: float(v) for k, v in r.items()} for r in rows]
    (writer,) = FakeSummaryWriter.made
    assert writer.logdir == str(tmp_path / "tensorboard") and writer.closed
    assert ("val_acc", rows[1]["val_acc"], rows[1]["step"]) in writer.scalars
    assert {name for name, _, _ in writer.scalars} == set(rows[0]) - {"epoch", "step"}


def test_tensorboard_without_tensorboardx_or_a_run_folder_is_refused_before_training(data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if not installed
    with pytest.raises(TrainConfigError, match=r"pip install 'anynet-zoo\[tensorboard\]'"):
        fit(TINY, quick(data_dir, tensorboard=True), out_dir=tmp_path, progress=False, on_step=_never)
    with pytest.raises(TrainConfigError, match="tensorboard=True needs out_dir="):
        fit(TINY, quick(data_dir, tensorboard=True), progress=False, on_step=_never)
    assert as_flags("tensorboard=True needs out_dir=") == "--tensorboard needs --out"


def _never(step: int) -> None:
    raise AssertionError("trained a step")
