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

import functools
import math
import os
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
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
    """One (dataset, splits, size, channels) setting: opened, normalised and (for evaluation)
    preprocessed once per process."""

    train: Any
    train_pipe: Any
    eval_set: Any


class TrialWorker:
    """Runs trials in this process; keeps opened data between them (see the module docstring)."""

    def __init__(self) -> None:
        self.trials_run = 0
        self._data: dict[tuple, _Data] = {}
        self.cache_dir = enable_compilation_cache()

    def data(self, config, channels: int, num_classes: int | None = None) -> _Data:
        """The opened data of a recipe for models of `channels` inputs and `num_classes` outputs (the
        dataset's by default; the width of mixed batches' soft targets)."""
        from zoo.data import Pipeline, normalization_for, open_split
        from zoo.train.evaluate import EvalSet
        from zoo.train.run import train_pipeline

        key = (config.dataset, config.train_split, config.test_split, config.data_dir, config.image_size, channels,
               num_classes)  # fmt: skip
        if key not in self._data:
            train = open_split(config.dataset, config.train_split, data_dir=config.data_dir)
            test = open_split(config.dataset, config.test_split, data_dir=config.data_dir)
            norm = normalization_for(train, channels)
            classes = num_classes or train.num_classes
            pipe = train_pipeline(config, config.image_size, channels, norm, train.flip_safe, classes)
            # The whole test split is one evaluation batch: one program, one call per trial.
            eval_set = EvalSet.prepare(test, Pipeline(config.image_size, channels, norm), len(test))
            self._data[key] = _Data(train, pipe, eval_set)
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
        data = self.data(config, spec.in_channels, spec.num_classes)
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
        kept = {}
        if trial.get("weights_path"):
            kept["weights_path"] = str(save_trained(result["model"], trial["weights_path"], trial))
            clock.lap("save")
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
            "machine": machine(),
            "pid": os.getpid(),
            "worker_trial": self.trials_run,
            **kept,
        }


@functools.cache
def machine() -> dict[str, str]:
    """What a result's float rounding depends on besides the code: the CPU model, its widest vector
    instruction set, the backend and jax's version (reruns are bitwise equal only where these are)."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
            if cpu and flags:
                break
    except OSError:  # not Linux: the processor string alone
        pass
    isa = next((name for name in ("avx512f", "avx2", "avx") if name in flags), platform.machine())
    return {"cpu": cpu, "isa": isa, "backend": jax.default_backend(), "jax": jax.__version__}


def save_trained(model, path: str, trial: dict[str, Any]):
    """The trained model's whole state as safetensors at `path` (atomically: temp file + os.replace),
    with its spec and trial index in the metadata, so `zoo.load(checkpoint_path=path)` rebuilds it."""
    from zoo.weights.state_file import save_weights

    return save_weights(model, path, metadata={"sweep_trial": str(int(trial["trial"]))})


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
    """The sweep's fixed recipe on one model, from the pieces `fit` composes: train every step on
    one device, refresh BN statistics, evaluate once."""
    from flax import nnx

    result = train_trial(model, config, data, clock)
    state = result.pop("state")
    nnx.update(model, *jax.device_get((state.params, state.rest)))
    return {**result, "model": model}


def train_trial(model, config, data: _Data, clock: _Clock | None = None) -> dict[str, Any]:
    """Train `model` as a trial does -> its numbers and the final (evaluated) TrainState, under "state"."""
    from zoo.data import iterate_batches, steps_per_epoch
    from zoo.train.epoch import EpochMeter, run_epoch
    from zoo.train.evaluate import Evaluator
    from zoo.train.loop import evaluated
    from zoo.train.precise_bn import PreciseBN
    from zoo.train.state import compile_step, init_state, one_device_mesh

    clock = clock or _Clock()
    per_epoch = steps_per_epoch(len(data.train), config.batch_size, train=True)
    graphs, state = init_state(model, config, per_epoch, one_device_mesh())
    shape = (config.batch_size, config.image_size, config.image_size, data.train_pipe.channels)
    step = compile_step(graphs, state, config, shape)
    evaluator = Evaluator(graphs.eval, data.eval_set, graphs.mesh)
    precise = (
        PreciseBN(
            graphs,
            state,
            data.train,
            data.train_pipe,
            images=config.precise_bn_images,
            batch_size=config.batch_size,
            seed=config.seed,
        )  # fmt: skip
        if config.precise_bn_images
        else None
    )
    clock.lap("compile")

    meter = None
    for epoch in range(config.epochs):
        batches = iterate_batches(
            data.train, data.train_pipe, config.batch_size, train=True, seed=config.seed, epoch=epoch
        )
        meter = EpochMeter(config.batch_size, strict=False)
        state, meter = run_epoch(step, state, batches, mesh=graphs.mesh, epoch=epoch, steps_per_epoch=per_epoch,
                                 meter=meter)  # fmt: skip
    train_loss = meter.loss if meter is not None else float("nan")
    clock.lap("train")

    state = evaluated(state, precise, config.epochs - 1)
    metrics = evaluator(state.params, state.rest)
    clock.lap("eval")
    loss = metrics["loss"]
    return {
        "top1": metrics["top1"],
        "loss": loss if math.isfinite(loss) else None,
        "train_loss": train_loss if math.isfinite(train_loss) else None,
        "diverged": not (math.isfinite(train_loss) and math.isfinite(loss)),
        "state": state,
    }


def _train_layerwise(model, config, data: _Data, clock: _Clock) -> dict[str, Any]:
    """The same recipe trained layer by layer (zoo.sweep.layerwise): compiles per distinct layer."""
    from zoo.data import iterate_batches, steps_per_epoch
    from zoo.errors import TrainConfigError
    from zoo.sweep.layerwise import LAYERWISE_OPTIMIZERS, LayerwiseTrainer
    from zoo.train.optim import lr_schedule

    if (
        config.optimizer not in LAYERWISE_OPTIMIZERS
        or config.label_smoothing
        or config.clip_grad_norm
        or config.accum_steps > 1
        or config.mixes
    ):
        raise TrainConfigError(
            f"layer-wise sweep training supports optimizer {' or '.join(LAYERWISE_OPTIMIZERS)} without label "
            f"smoothing, clipping, gradient accumulation or mixing; got optimizer={config.optimizer!r}: set "
            "layerwise=false in the recipe"
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
    (test_images, test_labels, _), *_ = data.eval_set
    result = trainer.evaluate(test_images, test_labels)
    clock.lap("eval")
    loss = result["loss"]
    return {
        "top1": result["top1"],
        "loss": loss if math.isfinite(loss) else None,
        "train_loss": train_loss if math.isfinite(train_loss) else None,
        "diverged": not (math.isfinite(train_loss) and math.isfinite(loss)),
        "model": trainer.trained_model(),
    }


_WORKER: TrialWorker | None = None


def process_worker() -> TrialWorker:
    """This process's TrialWorker, made on first use and kept for every later trial."""
    global _WORKER
    if _WORKER is None:
        _WORKER = TrialWorker()
    return _WORKER
