"""The jitted train and eval steps, as pure functions of (state, batch).

The model is split into a graph definition and its arrays (nnx.split); each step merges
them back inside jit, so one compiled function does forward, loss, backward, the optax
update and the BatchNorm statistics, with shardings chosen by the caller.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct


@struct.dataclass
class TrainState:
    """Everything that changes during training; one pytree, saved whole in checkpoints."""

    params: Any
    rest: Any  # BatchNorm statistics and any other non-parameter state
    opt_state: Any
    step: jax.Array
    rng: jax.Array
    ema: Any = None  # {"params", "rest"} averaged over steps when --ema is on


def split_model(model: nnx.Module):
    """(train graphdef, eval graphdef, params, rest) of a model."""
    model.train()
    train_def, params, *others = nnx.split(model, nnx.Param, ...)
    (rest,) = others  # `...` takes everything that is not a Param: exactly one more State
    model.eval()
    eval_def, *_ = nnx.split(model, nnx.Param, ...)
    return train_def, eval_def, params, rest


def smoothed_cross_entropy(logits: jax.Array, labels: jax.Array, smoothing: float) -> jax.Array:
    """Cross-entropy in float32 whatever the compute dtype (bf16 logits lose too much in the softmax)."""
    logits = logits.astype(jnp.float32)
    targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    if smoothing:
        targets = optax.smooth_labels(targets, smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def batch_loss(logits: jax.Array, labels: jax.Array, smoothing: float) -> jax.Array:
    """The batch's mean cross-entropy against integer labels (smoothed here), or against the soft targets
    (N, classes) of a mixed batch, which come smoothed and mixed from the input pipeline."""
    if labels.ndim == 2:
        return optax.softmax_cross_entropy(logits.astype(jnp.float32), labels).mean()
    return smoothed_cross_entropy(logits, labels, smoothing).mean()


def hard_labels(labels: jax.Array) -> jax.Array:
    """Integer labels as they are; a soft target's largest share (the image that dominates a mixed one)."""
    return jnp.argmax(labels, -1) if labels.ndim == 2 else labels


def ema_decay_at(decay: float, step: jax.Array) -> jax.Array:
    """The EMA decay, warmed up as (1 + step) / (10 + step) so early averages are not stuck at the init."""
    return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def update_ema(ema, params, rest, decay: jax.Array):
    """ema <- decay * ema + (1 - decay) * (params, BN statistics), in float32."""
    new = {"params": params, "rest": rest}
    return jax.tree.map(
        lambda e, x: decay * e + (1.0 - decay) * x if jnp.issubdtype(x.dtype, jnp.inexact) else x, ema, new
    )


def make_train_step(
    train_def,
    tx: optax.GradientTransformation,
    label_smoothing: float = 0.0,
    ema_decay: float = 0.0,
    accum_steps: int = 1,
):
    """(state, images, labels) -> (state, {loss, correct}); loss is the batch mean. With `ema_decay`,
    the state's `ema` follows the weights and BN statistics, after each of the optimizer's updates
    (`tx` updates once per `accum_steps` steps when it accumulates gradients)."""

    def train_step(state: TrainState, images: jax.Array, labels: jax.Array):
        model = nnx.merge(train_def, state.params, state.rest)

        def loss_fn(m):
            logits = m(images)
            return batch_loss(logits, labels, label_smoothing), logits

        (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        rest = nnx.state(model, nnx.Not(nnx.Param))
        correct = jnp.sum(jnp.argmax(logits, -1) == hard_labels(labels))
        ema = _ema_after(state, params, rest, ema_decay, accum_steps) if ema_decay else state.ema
        new = dataclasses.replace(state, params=params, rest=rest, opt_state=opt_state, step=state.step + 1, ema=ema)
        return new, {"loss": loss, "correct": correct}

    return train_step


def _ema_after(state: TrainState, params, rest, decay: float, accum_steps: int):
    """The EMA after a step: updated when the optimizer updated (every step, or every `accum_steps`th),
    its decay warmed up over the updates."""
    if accum_steps == 1:
        return update_ema(state.ema, params, rest, ema_decay_at(decay, state.step))
    updated = (state.step + 1) % accum_steps == 0
    fresh = update_ema(state.ema, params, rest, ema_decay_at(decay, (state.step + 1) // accum_steps - 1))
    return jax.tree.map(lambda new, old: jnp.where(updated, new, old), fresh, state.ema)


def make_eval_step(eval_def, top_k: int = 5):
    """(params, rest, images, labels, weights) -> weighted sums of loss, top-1 and top-k hits."""

    def eval_step(params, rest, images, labels, weights):
        model = nnx.merge(eval_def, params, rest)
        logits = model(images).astype(jnp.float32)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        k = min(top_k, logits.shape[-1])
        topk = jax.lax.top_k(logits, k)[1]
        top1 = topk[:, 0] == labels
        topn = jnp.any(topk == labels[:, None], axis=-1)
        return {
            "loss": jnp.sum(loss * weights),
            "top1": jnp.sum(top1 * weights),
            "top5": jnp.sum(topn * weights),
            "count": jnp.sum(weights),
        }

    return eval_step


def all_finite(tree) -> jax.Array:
    """True when every array in the tree is free of NaN and inf."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)
