"""Learning-rate schedules and optax optimizers, with weight decay that skips BN and biases."""

from __future__ import annotations

import jax
import optax

from zoo.train.config import TrainConfig


def optimizer_steps(config: TrainConfig, steps: int) -> int:
    """The optimizer updates after `steps` train steps: one per `accum_steps` (gradient accumulation)."""
    return steps // config.accum_steps


def lr_schedule(config: TrainConfig, steps_per_epoch: int) -> optax.Schedule:
    """constant, cosine to zero after a linear warm-up, or step decay at `step_epochs`; a function of the
    optimizer update (one per `accum_steps` train steps, of which an epoch has `steps_per_epoch`)."""
    total = optimizer_steps(config, config.epochs * steps_per_epoch)
    warmup = int(round(config.warmup_epochs * steps_per_epoch / config.accum_steps))
    if config.schedule == "constant":
        main = optax.constant_schedule(config.lr)
    elif config.schedule == "cosine":
        main = optax.cosine_decay_schedule(config.lr, max(1, total - warmup))
    else:
        boundaries = sorted(config.step_epochs) or [int(config.epochs * 0.5), int(config.epochs * 0.75)]
        main = optax.piecewise_constant_schedule(
            config.lr,
            {
                max(1, optimizer_steps(config, e * steps_per_epoch) - warmup): config.step_gamma
                for e in boundaries
                if e > 0
            },
        )
    if warmup == 0:
        return main
    ramp = optax.linear_schedule(config.lr / max(warmup, 1), config.lr, warmup)
    return optax.join_schedules([ramp, main], [warmup])


def decay_mask(params):
    """True for weights that decay: conv and dense kernels; never BN scales/biases or conv biases."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The run's optax transformation; with `accum_steps` K > 1 it averages K steps' gradients and updates
    once (optax.MultiSteps), so the effective batch is batch_size * K."""
    tx = _optimizer(config, lr_schedule(config, steps_per_epoch))
    if config.accum_steps == 1:
        return tx
    return optax.MultiSteps(tx, every_k_schedule=config.accum_steps).gradient_transformation()


def _optimizer(config: TrainConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    parts = []
    if config.clip_grad_norm is not None:
        parts.append(optax.clip_by_global_norm(config.clip_grad_norm))
    if config.optimizer == "adamw":
        parts.append(optax.adamw(schedule, weight_decay=config.weight_decay, mask=decay_mask))
    else:
        if config.weight_decay:
            parts.append(optax.add_decayed_weights(config.weight_decay, mask=decay_mask))
        parts.append(optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.optimizer == "nesterov"))
    return optax.chain(*parts)
