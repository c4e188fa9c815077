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
import optax
import pytest
from flax import nnx
from PIL import Image, ImageOps

import zoo
from zoo.cli.train import as_flags
from zoo.data.mixing import Mixing
from zoo.data.randaugment import OPS, RandAugment, RandDraw
from zoo.data.transforms import Augmentation, match_channels, mirror, random_crop, resize
from zoo.errors import TrainConfigError
from zoo.train import TrainConfig, fit
from zoo.train.optim import decay_mask, lr_schedule, make_optimizer
from zoo.train.run import open_run
from zoo.train.steps import (
    TrainState,
    batch_loss,
    hard_labels,
    make_train_step,
    smoothed_cross_entropy,
    split_model,
)

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
    config = quick(data_dir, mixup_alpha=0.4, cutmix_alpha=1.0, label_smoothing=0.1, randaugment_ops=2)
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


# -- RandAugment ----------------------------------------------------------------------------------
def _pixels(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32)


def _only(name: str):
    """A draw of n images where every image draws `name`, in the + direction."""
    return lambda n: RandDraw(np.full((n, 1), OPS.index(name)), np.ones((n, 1), np.float32))


@pytest.mark.parametrize("name", [op for op in OPS if op not in ("equalize", "autocontrast")])
@pytest.mark.parametrize("channels", [1, 3])
def test_at_magnitude_zero_every_graded_operation_is_the_identity(name, channels):
    x = _pixels((3, 9, 7, channels))
    out = RandAugment(1, 0.0).apply(x, _only(name)(3), np.zeros(channels))
    np.testing.assert_allclose(out, x, atol=1e-3)


@pytest.mark.parametrize("channels", [1, 3])
def test_equalize_and_autocontrast_match_pillow(channels):
    x = _pixels((4, 10, 12, channels), seed=1)
    x[0] = x[0] // 4 + 60  # a narrow range, where both really change the image
    for name, reference in (("equalize", ImageOps.equalize), ("autocontrast", ImageOps.autocontrast)):
        out = RandAugment(1, 9.0).apply(x, _only(name)(4), np.zeros(channels))
        for image, ours in zip(x.astype(np.uint8), out):
            pil = np.asarray(reference(Image.fromarray(image.squeeze(-1) if channels == 1 else image)), np.float32)
            np.testing.assert_allclose(ours, pil.reshape(ours.shape), atol=1.0, err_msg=name)


def test_photometric_operations_at_full_magnitude():
    x = _pixels((2, 6, 6, 1))
    solarized = RandAugment(1, 10.0).apply(x, _only("solarize")(2), np.zeros(1))
    np.testing.assert_array_equal(solarized, 255 - x)  # threshold 0: every pixel inverted
    posterized = RandAugment(1, 10.0).apply(x, _only("posterize")(2), np.zeros(1))
    assert np.all(posterized % 16 == 0) and np.all(np.abs(posterized - x) < 16)  # 4 bits kept
    brighter = RandAugment(1, 5.0).apply(x, _only("brightness")(2), np.zeros(1))
    np.testing.assert_allclose(brighter, np.clip(x * 1.45, 0, 255), rtol=1e-6)


def test_translation_shifts_by_its_share_of_the_side_and_fills_with_the_fill():
    x = _pixels((2, 5, 20, 3))
    fill = np.array([10.0, 20.0, 30.0])
    out = RandAugment(1, 10.0).apply(x, _only("translate_x")(2), fill)  # 0.45 of 20 = 9 columns
    np.testing.assert_allclose(out[:, :, :11], x[:, :, 9:], atol=1e-3)
    np.testing.assert_allclose(out[:, :, 11:], np.broadcast_to(fill, out[:, :, 11:].shape), atol=1e-3)


def test_rotation_keeps_the_centre_and_turns_the_rest():
    x = _pixels((1, 9, 9, 1))
    out = RandAugment(1, 10.0).apply(x, _only("rotate")(1), np.zeros(1))
    assert out[0, 4, 4, 0] == pytest.approx(x[0, 4, 4, 0], abs=1e-3)
    assert not np.allclose(out, x)


def test_each_image_draws_its_own_operations_and_the_draw_slices_per_process():
    augment = RandAugment(2, 9.0)
    draw = augment.draw(np.random.default_rng(0), 64)
    assert draw.ops.shape == (64, 2) and set(np.unique(draw.ops)) == set(range(len(OPS)))
    x = _pixels((64, 8, 8, 3))
    whole = augment.apply(x, draw, np.full(3, 128.0))
    halves = [augment.apply(x[part], draw[part], np.full(3, 128.0)) for part in (slice(0, 32), slice(32, 64))]
    np.testing.assert_array_equal(whole, np.concatenate(halves))


def test_randaugment_changes_only_the_training_images_and_keeps_crops_and_flips(data_dir, plain_pipeline):
    augmented = replace(plain_pipeline, randaugment=RandAugment(2, 9.0))
    rng = lambda: np.random.default_rng([5, 1, 0, 1])  # noqa: E731 - batch 0 of epoch 1, seed 5
    a, p = augmented.draw(rng(), 16), plain_pipeline.draw(rng(), 16)
    assert np.array_equal(a.dy, p.dy) and np.array_equal(a.dx, p.dx) and np.array_equal(a.flip, p.flip)
    ra, plain = _batches(data_dir, augmented), _batches(data_dir, plain_pipeline)
    again = _batches(data_dir, augmented)
    for r, q, s in zip(ra, plain, again):
        assert np.array_equal(r.labels, q.labels) and np.array_equal(r.images, s.images)
        assert r.images.shape == q.images.shape and not np.array_equal(r.images, q.images)
    halves = [_batches(data_dir, augmented, process_index=i, process_count=2) for i in range(2)]
    for w, first, second in zip(ra, *halves):
        assert np.array_equal(w.images, np.concatenate([first.images, second.images]))
    run = open_run(TINY, quick(data_dir, randaugment_ops=2, randaugment_magnitude=7))
    assert run.train_pipe.randaugment == RandAugment(2, 7.0) and run.eval_pipe.randaugment is None


# -- with every option off: today's run -----------------------------------------------------------
# The pieces these options changed, as they were before them (commit 65d89a0): the loss against integer
# labels, the optimizer and its schedule, and the pipeline's draw and transform.
def _todays_schedule(config: TrainConfig, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "constant":
        main = optax.constant_schedule(config.lr)
    elif config.schedule == "cosine":
        main = optax.cosine_decay_schedule(config.lr, max(1, total - warmup))
    else:
        boundaries = sorted(config.step_epochs) or [int(config.epochs * 0.5), int(config.epochs * 0.75)]
        main = optax.piecewise_constant_schedule(
            config.lr, {max(1, e * steps_per_epoch - warmup): config.step_gamma for e in boundaries if e > 0}
        )
    if warmup == 0:
        return main
    ramp = optax.linear_schedule(config.lr / max(warmup, 1), config.lr, warmup)
    return optax.join_schedules([ramp, main], [warmup])


def _todays_optimizer(config: TrainConfig, steps_per_epoch: int):
    schedule = _todays_schedule(config, steps_per_epoch)
    parts = []
    if config.clip_grad_norm is not None:
        parts.append(optax.clip_by_global_norm(config.clip_grad_norm))
    if config.weight_decay:
        parts.append(optax.add_decayed_weights(config.weight_decay, mask=decay_mask))
    parts.append(optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.optimizer == "nesterov"))
    return optax.chain(*parts)


def _todays_draw(self, rng, n):
    return Augmentation.draw(rng, n, self.crop_pad, self.flip) if self.augment else None


def _todays_transform(self, images, augmentation=None):
    x = self.normalization.apply(match_channels(images, self.channels))
    x = resize(x, self.image_size)
    if augmentation is not None:
        x = random_crop(x, self.crop_pad, augmentation.dy, augmentation.dx)
        if augmentation.flip.any():
            x = mirror(x, augmentation.flip)
    return np.ascontiguousarray(x, dtype=np.float32)


def test_with_every_new_option_off_a_run_is_todays_bit_for_bit(data_dir, tmp_path, monkeypatch):
    config = quick(data_dir, epochs=2, warmup_epochs=0.5, clip_grad_norm=1.0, label_smoothing=0.1, optimizer="nesterov")
    off = config.replace(accum_steps=1, mixup_alpha=0.0, cutmix_alpha=0.0, randaugment_ops=0, tensorboard=False)
    assert off == config  # every new option is off by default
    ours = fit(TINY, off, out_dir=tmp_path / "ours", progress=False)
    with monkeypatch.context() as patch:
        patch.setattr("zoo.train.steps.batch_loss", lambda logits, y, s: smoothed_cross_entropy(logits, y, s).mean())
        patch.setattr("zoo.train.steps.hard_labels", lambda labels: labels)
        patch.setattr("zoo.train.state.make_optimizer", _todays_optimizer)
        patch.setattr("zoo.data.pipeline.Pipeline.draw", _todays_draw)
        patch.setattr("zoo.data.pipeline.Pipeline.transform", _todays_transform)
        todays = fit(TINY, config, out_dir=tmp_path / "todays", progress=False)
    assert len(model_leaves(ours.model)) > 0
    assert all(np.array_equal(a, b) for a, b in zip(model_leaves(ours.model), model_leaves(todays.model), strict=True))
    assert ours.history == [{**row, "img_per_s": ours.history[i]["img_per_s"], "seconds": ours.history[i]["seconds"]}
                            for i, row in enumerate(todays.history)]  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == [
        ".zoo-train.lock", "checkpoints", "config.json", "curves.png", "metrics.csv", "metrics.jsonl",
        "model.safetensors"]  # fmt: skip
    assert (tmp_path / "ours" / "config.json").read_text() == (tmp_path / "todays" / "config.json").read_text()


# -- the command line ------------------------------------------------------------------------------
def _config_of(argv: list[str], monkeypatch) -> TrainConfig:
    """The TrainConfig `zoo train` passes to fit for these flags (fit itself is not run)."""
    seen = {}

    def fake_fit(model, config, **kwargs):
        seen["config"] = config
        raise KeyboardInterrupt

    monkeypatch.setattr("zoo.train.fit", fake_fit)
    from zoo.cli import main

    assert main(["train", "regnetx32", "--quiet", "--out", "unused", *argv]) == 130
    return seen["config"]


def test_each_staple_has_a_flag(monkeypatch, capsys):
    config = _config_of(
        ["--accum-steps", "4", "--mixup", "0.2", "--cutmix", "1", "--mixup-switch-prob", "0.3", "--randaugment", "2,7",
         "--tensorboard"],
        monkeypatch,
    )  # fmt: skip
    assert (config.accum_steps, config.mixup_alpha, config.cutmix_alpha, config.mixup_switch_prob) == (4, 0.2, 1, 0.3)
    assert (config.randaugment_ops, config.randaugment_magnitude, config.tensorboard) == (2, 7.0, True)
    config = _config_of(["--randaugment-ops", "3", "--randaugment-magnitude", "5"], monkeypatch)
    assert (config.randaugment_ops, config.randaugment_magnitude) == (3, 5.0)
    assert _config_of([], monkeypatch) == TrainConfig()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--accum-steps", "0"], "--accum-steps 0 must be at least 1"),
        (["--mixup", "-1"], "--mixup -1.0 must be >= 0"),
        (["--randaugment", "2"], "expected N,M"),
        (["--randaugment", "2,11"], "--randaugment-magnitude 11.0 must be in [0, 10]"),
        (["--randaugment", "2,9", "--randaugment-ops", "1"], "not both"),
    ],
)
def test_bad_staple_flags_are_one_line_naming_the_flag(argv, message, capsys):
    from zoo.cli import main

    try:
        status = main(["train", "regnetx32", "--quiet", "--out", "unused", *argv])
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and err.count("\n") == 1
