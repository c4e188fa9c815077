"""Training staples (issue #24): gradient accumulation, mixup/cutmix, RandAugment, epoch loggers.
Each option changes what it should and nothing else; with every one off a run is today's, bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import zoo
from zoo.train import TrainConfig, fit
from zoo.train.optim import lr_schedule, make_optimizer
from zoo.train.steps import TrainState, make_train_step, split_model

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
