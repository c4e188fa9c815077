"""A trial worker: one process that trains sampled models trial after trial, paying its fixed costs once.

A sweep trains hundreds of small models briefly, so what a trial costs besides its training
steps decides how many models an hour buys. A `TrialWorker` lives as long as its process (a
Ray worker runs task after task in the same process): imports happen once, each dataset split
is opened, normalised and (for evaluation) preprocessed once, JAX's persistent compilation
cache is on, and each trial compiles exactly two programs (the train step and one evaluation
over the whole test split) and evaluates once, after training, with precise BN statistics.
Each row records where its time went (`timings`) and how many trials its process had run.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import time
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from zoo.compilation_cache import enable_compilation_cache

# Recipe settings that are the sweep's own, not TrainConfig's: train layer by layer.
SWEEP_RECIPE_KEYS = frozenset({"layerwise"})


def recipe_config(recipe: dict[str, Any]):
    """The TrainConfig of a sweep's recipe (every trial trains with the same one)."""
    from zoo.train.config import TrainConfig

    return TrainConfig.from_dict({k: v for k, v in recipe.items() if k not in SWEEP_RECIPE_KEYS})


@dataclass(frozen=True)
class _Data:
    """One (dataset, splits, size, channels) setting: opened and normalised once per process."""

    train: Any
    train_pipe: Any
    test_images: np.ndarray
    test_labels: np.ndarray


class TrialWorker:
    """Runs trials in this process; keeps opened data between them (see the module docstring)."""

    def __init__(self) -> None:
        self.trials_run = 0
        self._data: dict[tuple, _Data] = {}
        self.cache_dir = enable_compilation_cache()

    def data(self, config, channels: int) -> _Data:
        from zoo.data import Pipeline, normalization_for, open_split

        key = (config.dataset, config.train_split, config.test_split, config.data_dir, config.image_size, channels)
        if key not in self._data:
            train = open_split(config.dataset, config.train_split, data_dir=config.data_dir)
            test = open_split(config.dataset, config.test_split, data_dir=config.data_dir)
            norm = normalization_for(train, channels)
            pipe = Pipeline(config.image_size, channels, norm, augment=config.augment, flip=train.flip_safe)
            images, labels = test.read(range(len(test)))
            test_images = Pipeline(config.image_size, channels, norm).transform(images)
            self._data[key] = _Data(train, pipe, test_images, np.asarray(labels, np.int32))
        return self._data[key]

    def run(self, trial: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
        """Train `trial['spec']` with `recipe` (TrainConfig settings) -> the trial's results row."""
        import zoo
        from zoo.nn.conv_lowering import conv_lowering, current

        start = time.perf_counter()
        clock = _Clock()
        spec = zoo.ModelSpec.from_dict(trial["spec"], where=f"trial {trial['trial']}")
        config = recipe_config(recipe).replace(seed=int(recipe.get("seed", 0)) + int(trial["trial"]))
        if config.image_size is None:
            config = config.replace(image_size=spec.input_size)
        data = self.data(config, spec.in_channels)
        clock.lap("data")
        model = zoo.create(spec, seed=config.seed)
        clock.lap("build")
        # The per-shape rule (or ZOO_CONV_LOWERING) unless the trial names a lowering: forcing
        # block-diagonal kernels on every conv multiplied a group-width-1 model's flops by its
        # width (a 5x slower trial, bench/NOTES.md "Sweep trial cost").
        lowering = trial.get("conv_lowering") or current()
        layerwise = bool(recipe.get("layerwise", False))
        with conv_lowering(lowering):
            train = _train_layerwise if layerwise else _train_and_evaluate
            result = train(model, config, data, clock)
        self.trials_run += 1
        top1 = result["top1"]
        return {
            "trial": int(trial["trial"]),
            "space": trial["space"],
            "sweep_seed": int(trial["sweep_seed"]),
            "train_seed": config.seed,
            "params": trial["params"],
            "spec": trial["spec"],
            "complexity": trial["complexity"],
            "draws": trial.get("draws"),
            "error": 1.0 - top1,
            "top1": top1,
            "loss": result["loss"],
            "train_loss": result["train_loss"],
            "diverged": result["diverged"],
            "seconds": time.perf_counter() - start,
            "timings": clock.parts,
            "conv_lowering": lowering,
            "layerwise": layerwise,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "worker_trial": self.trials_run,
        }


class _Clock:
    """Seconds spent in each named part of a trial."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.parts[name] = round(self.parts.get(name, 0.0) + now - self._t, 4)
        self._t = now


def _train_and_evaluate(model, config, data: _Data, clock: _Clock) -> dict[str, Any]:
    """The sweep's fixed recipe on one model: train every step, refresh BN statistics, evaluate once."""
    from zoo.data import iterate_batches, steps_per_epoch
    from zoo.train.optim import make_optimizer
    from zoo.train.precise_bn import averaged_rest, make_batch_stats_fn, stats_graph
    from zoo.train.steps import TrainState, make_eval_step, make_train_step, split_model

    per_epoch = steps_per_epoch(len(data.train), config.batch_size, train=True)
    tx = make_optimizer(config, per_epoch)
    train_def, eval_def, params, rest = split_model(model)
    state = TrainState(
        params, rest, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key_data(jax.random.key(config.seed))
    )
    shape = (config.batch_size, config.image_size, config.image_size, data.train_pipe.channels)
    images0 = jax.ShapeDtypeStruct(shape, jnp.float32)
    labels0 = jax.ShapeDtypeStruct((config.batch_size,), jnp.int32)
    step = (
        jax.jit(make_train_step(train_def, tx, config.label_smoothing), donate_argnums=0)
        .lower(state, images0, labels0)
        .compile()
    )
    test_x, test_y = jnp.asarray(data.test_images), jnp.asarray(data.test_labels)
    evaluate = jax.jit(make_eval_step(eval_def)).lower(params, rest, test_x, test_y, jnp.ones(len(test_y))).compile()
    batch_stats = jax.jit(make_batch_stats_fn(stats_graph(train_def, params, rest)))
    average = jax.jit(lambda p, r, stats: averaged_rest(eval_def, p, r, stats))
    clock.lap("compile")

    losses = []
    for epoch in range(config.epochs):
        batches = iterate_batches(
            data.train, data.train_pipe, config.batch_size, train=True, seed=config.seed, epoch=epoch
        )
        for batch in batches:
            state, metrics = step(state, batch.images, batch.labels)
            losses.append(metrics["loss"])
    train_loss = float(np.mean(jax.device_get(losses[-per_epoch:])))
    clock.lap("train")

    if config.precise_bn_images:
        count = max(1, min(per_epoch, -(-config.precise_bn_images // config.batch_size)))
        batches = iterate_batches(
            data.train, data.train_pipe, config.batch_size, train=True, seed=config.seed + 1, epoch=config.epochs
        )
        stats = [batch_stats(state.params, state.rest, b.images) for b in itertools.islice(batches, count)]
        state = replace(state, rest=average(state.params, state.rest, stats))
    sums = jax.device_get(evaluate(state.params, state.rest, test_x, test_y, jnp.ones(len(test_y))))
    clock.lap("eval")
    count = float(sums["count"])
    loss = float(sums["loss"]) / count
    diverged = not (math.isfinite(train_loss) and math.isfinite(loss))
    return {
        "top1": float(sums["top1"]) / count,
        "loss": loss if math.isfinite(loss) else None,
        "train_loss": train_loss if math.isfinite(train_loss) else None,
        "diverged": diverged,
    }


def _train_layerwise(model, config, data: _Data, clock: _Clock) -> dict[str, Any]:
    """The same recipe trained layer by layer (zoo.sweep.layerwise): compiles per distinct layer."""
    from zoo.data import iterate_batches, steps_per_epoch
    from zoo.errors import TrainConfigError
    from zoo.sweep.layerwise import LAYERWISE_OPTIMIZERS, LayerwiseTrainer
    from zoo.train.optim import lr_schedule

    if config.optimizer not in LAYERWISE_OPTIMIZERS or config.label_smoothing or config.clip_grad_norm:
        raise TrainConfigError(
            f"layer-wise sweep training supports optimizer {' or '.join(LAYERWISE_OPTIMIZERS)} without label "
            f"smoothing or clipping; got optimizer={config.optimizer!r}: set layerwise=false in the recipe"
        )
    per_epoch = steps_per_epoch(len(data.train), config.batch_size, train=True)
    schedule = lr_schedule(config, per_epoch)
    trainer = LayerwiseTrainer(
        model, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=config.optimizer == "nesterov"
    )
    clock.lap("build")
    losses, step_no = [], 0
    for epoch in range(config.epochs):
        batches = iterate_batches(
            data.train, data.train_pipe, config.batch_size, train=True, seed=config.seed, epoch=epoch
        )
        for batch in batches:
            loss, _ = trainer.step(batch.images, batch.labels, float(schedule(step_no)))
            losses.append(loss)
            step_no += 1
            if step_no == 1:
                jax.block_until_ready(loss)
                clock.lap("compile")  # the first step compiles every layer this process had not seen
    train_loss = float(np.mean(jax.device_get(losses[-per_epoch:])))
    clock.lap("train")
    result = trainer.evaluate(data.test_images, data.test_labels)
    clock.lap("eval")
    loss = result["loss"]
    return {
        "top1": result["top1"],
        "loss": loss if math.isfinite(loss) else None,
        "train_loss": train_loss if math.isfinite(train_loss) else None,
        "diverged": not (math.isfinite(train_loss) and math.isfinite(loss)),
    }


_WORKER: TrialWorker | None = None


def process_worker() -> TrialWorker:
    """This process's TrialWorker, made on first use and kept for every later trial."""
    global _WORKER
    if _WORKER is None:
        _WORKER = TrialWorker()
    return _WORKER
