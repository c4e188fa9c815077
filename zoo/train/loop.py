"""`fit`: train a model on a tfds dataset with optax, over every device, resumable from checkpoints.

`fit` composes the named pieces, as pycls composes train_epoch, test_epoch, precise BN and
save_checkpoint: `open_run` (data and model), `init_state`, `compile_step`, `run_epoch` (with
per-step callbacks), `PreciseBN`, `Evaluator` and `checkpoint`. The sweep's trial worker
composes the same pieces, so a trial and `fit` with one recipe compute the same weights.

A run is a pure function of its TrainConfig: batches come from (seed, epoch, batch), the
step is one jitted function, and a checkpoint holds the whole TrainState plus the data
position, so `resume=True` after an interruption ends exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
from flax import nnx

from zoo.data import iterate_batches
from zoo.errors import CheckpointError, TrainConfigError
from zoo.train.checkpoint import Checkpoints, checkpoint, kept_note, writing
from zoo.train.config import TrainConfig
from zoo.train.epoch import EpochMeter, Every, ProgressBar, StepInfo, run_epoch
from zoo.train.evaluate import EvalSet, Evaluator, even_batch_size
from zoo.train.loggers import EpochLog, close_loggers, epoch_loggers
from zoo.train.precise_bn import PreciseBN
from zoo.train.report import epoch_row
from zoo.train.run import RunData, check_same_run, open_run, save_weights
from zoo.train.run_folder import claim_run_folder
from zoo.train.sharding import check_batch_size, data_mesh
from zoo.train.state import compile_step, init_state
from zoo.train.steps import TrainState


@dataclass
class FitResult:
    """The trained model (eval mode, carrying its data config), one metrics row per epoch, the final test metrics."""

    model: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    test: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None
    weights: str = "raw"  # "ema" when the EMA scored better and is what `model` holds


def fit(
    model,
    config: TrainConfig | None = None,
    *,
    data: tuple | None = None,
    test_data: tuple | None = None,
    class_names: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    pretrained: bool | str = False,
    num_classes: int | None = None,
    progress: bool | str = True,
    on_step: Callable[[int], None] | None = None,
    on_log: EpochLog | None = None,
    **settings: Any,
) -> FitResult:
    """Train `model` (a name, spec, folder or built AnyNet) with `config` (keyword settings override it).

    The data is the config's dataset (a tfds name or `folder:PATH`), or in-memory arrays:
    `data=(images, labels)` with an optional `test_data=` (else a seeded 20% is held out) and
    `class_names=`. With `out_dir`, checkpoints go to out_dir/checkpoints, metrics to
    metrics.jsonl, metrics.csv and curves.png, and the final weights to model.safetensors + config.json;
    a folder holding files the run did not write is refused unless `resume` or `overwrite`, and is locked
    while the run writes it. `progress`: True shows notices, a tqdm bar per epoch (on a terminal only) and
    one line per epoch on stderr; "epochs" only the line per epoch (`zoo train --quiet`); False nothing.
    `on_step(step)` is called after every step, `on_log(row)` with each epoch's metrics row (on process 0).
    """
    config = (config or TrainConfig()).replace(**settings)
    mesh = data_mesh()
    check_batch_size(config.batch_size, mesh)
    run = open_run(model, config, data=data, test_data=test_data, class_names=class_names,
                   num_classes=num_classes, pretrained=pretrained)  # fmt: skip
    config, main_process = run.config, jax.process_index() == 0
    notify, lines = progress is True and main_process, bool(progress) and main_process
    graphs, state = init_state(run.model, config, run.steps_per_epoch, mesh)
    eval_size = even_batch_size(len(run.test), config.eval_batch_size or max(config.batch_size, 256), mesh.size)
    evaluator = Evaluator(graphs.eval, EvalSet.prepare(run.test, run.eval_pipe, eval_size), mesh)
    precise = PreciseBN.for_run(graphs, state, run) if config.precise_bn_images else None
    out = Path(out_dir) if out_dir is not None else None
    # The folder is claimed (locked, checked for files this run did not write) before anything is written.
    claim = claim_run_folder(out, resume=resume, overwrite=overwrite) if out is not None and main_process else None
    history, first_epoch, start, partial = [], 0, 0, None
    final = checkpoints = None
    loggers: list[EpochLog] = []
    try:
        checkpoints = _open_checkpoints(out, config, notify)
        if checkpoints is not None:
            state, (history, first_epoch, start, partial) = _position(checkpoints, state, config, resume, notify)
        elif resume:
            raise TrainConfigError("resume=True needs out_dir=: the directory of the run to continue")
        loggers = epoch_loggers(out, history, title=f"{_label(model)} on {config.dataset}", checkpoints=checkpoints,
                                writes=main_process, console_line=lines, tensorboard=config.tensorboard,
                                on_log=on_log)  # fmt: skip
        if first_epoch < config.epochs:
            step = compile_step(graphs, state, config, _batch_shape(run), notify=notify)
        advice = functools.partial(_advice, config, checkpoints)
        save_every = Every(config.checkpoint_every, run.steps_per_epoch, _Saver(checkpoints, run, history))
        for epoch in range(first_epoch, config.epochs):
            bar = (
                ProgressBar(run.steps_per_epoch, start, f"epoch {epoch + 1}/{config.epochs}")
                if notify and sys.stderr.isatty()  # a log file gets the line per epoch, not redrawn bars
                else None
            )
            callbacks = [c for c in (bar, save_every, on_step and _OnStep(on_step)) if c]
            state, meter = run_epoch(step, state, _train_batches(run, epoch, start), mesh=mesh, epoch=epoch,
                                     steps_per_epoch=run.steps_per_epoch, start=start, callbacks=callbacks,
                                     meter=EpochMeter(config.batch_size, partial if start else None, advice=advice))  # fmt: skip
            if bar is not None:
                bar.close()
            final, scores = evaluate_weights(state, precise, evaluator, epoch)
            state = final if state.ema is None else state  # precise statistics carry on training
            history.append(epoch_row(config, run.steps_per_epoch, epoch, meter, scores))
            checkpoint(checkpoints, (epoch + 1) * run.steps_per_epoch, state, _meta(run, history, epoch + 1, 0, None))
            start, partial = 0, None
            for log in loggers:
                log(history[-1])
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    finally:
        close_loggers(loggers)
        if checkpoints is not None:
            checkpoints.close()
    if final is None:  # a finished run resumed: no epoch ran
        final, _ = evaluate_weights(state, precise, evaluator, max(config.epochs - 1, 0))
    nnx.update(run.model, *jax.device_get((final.params, final.rest)))
    run.model.eval()
    last = history[-1] if history else {}
    test = {"loss": last["val_loss"], "top1": last["val_acc"], "top5": last["val_top5"]} if last else {}
    try:
        if out is not None and main_process:
            with writing(out / "model.safetensors", "the final weights", None):
                save_weights(run.model, out, run.eval_pipe, run.class_names, _saved_note(config, last), run.background)
    finally:
        if claim is not None:
            claim.release()
    return FitResult(run.model, history, test, out, last.get("weights", "raw"))


def evaluated(state: TrainState, precise: PreciseBN | None, epoch: int) -> TrainState:
    """The weights a trial evaluates (the EMA when on), with precise BN statistics."""
    if state.ema is not None:
        state = dataclasses.replace(state, params=state.ema["params"], rest=state.ema["rest"])
    return precise(state, epoch) if precise is not None else state


def evaluate_weights(
    state: TrainState, precise: PreciseBN | None, evaluator: Evaluator, epoch: int
) -> tuple[TrainState, dict[str, dict[str, float]]]:
    """Each set of weights the state holds (the raw ones, and the EMA when on), with precise BN, evaluated
    -> (the better one's state, the scores by name, the better one first). timm saves the better of the two."""
    candidates = {"raw": precise(state, epoch) if precise is not None else state}
    if state.ema is not None:
        candidates["ema"] = evaluated(state, precise, epoch)
    scores = {name: evaluator(s.params, s.rest) for name, s in candidates.items()}
    best = max(scores, key=lambda name: (scores[name]["top1"], -scores[name]["loss"], name == "ema"))
    return candidates[best], {best: scores[best], **scores}


def _saved_note(config: TrainConfig, last: dict[str, Any]) -> dict[str, Any] | None:
    """config.json's `training` entry: which weights model.safetensors holds when there was a choice."""
    if not config.ema_decay or "weights" not in last:
        return None
    return {"weights": last["weights"], "ema_decay": config.ema_decay}


def _train_batches(run: RunData, epoch: int, start: int):
    return iterate_batches(run.train, run.train_pipe, run.config.batch_size, train=True, seed=run.config.seed,
                           epoch=epoch, start=start, process_index=jax.process_index(),
                           process_count=jax.process_count())  # fmt: skip


def _batch_shape(run: RunData) -> tuple[int, int, int, int]:
    return (run.config.batch_size, run.eval_pipe.image_size, run.eval_pipe.image_size, run.eval_pipe.channels)


def _meta(run: RunData, history, epoch: int, batch: int, meter: EpochMeter | None) -> dict[str, Any]:
    return {"position": {"epoch": epoch, "batch": batch}, "history": history,
            "partial": meter.as_dict() if meter else None, "config": run.config.to_dict(),
            "spec": run.model.spec.to_dict()}  # fmt: skip


class _Saver:
    """The every-N-steps checkpoint (a per-step callback through `Every`)."""

    def __init__(self, checkpoints: Checkpoints | None, run: RunData, history: list):
        self.checkpoints, self.run, self.history = checkpoints, run, history

    def __call__(self, info: StepInfo) -> None:
        info.meter.settle()
        meta = _meta(self.run, self.history, info.epoch, info.batch, info.meter)
        checkpoint(self.checkpoints, info.step, info.state, meta)


class _OnStep:
    def __init__(self, fn: Callable[[int], None]):
        self.fn = fn

    def __call__(self, info: StepInfo) -> None:
        self.fn(info.step)


def _open_checkpoints(out: Path | None, config: TrainConfig, notify: bool) -> Checkpoints | None:
    if out is None:
        return None
    with writing(out, "the run folder", None):
        checkpoints = Checkpoints(out / "checkpoints", keep=config.keep_checkpoints)
    if notify:
        print(f"zoo: writing the run to {out}/", file=sys.stderr, flush=True)
    return checkpoints


def _position(checkpoints: Checkpoints, state, config: TrainConfig, resume: bool, notify: bool):
    """The state and (history, epoch, batch, partial meter) to start from: a fresh run, or the last checkpoint."""
    last = checkpoints.latest_step()
    if last is None:
        return state, ([], 0, 0, None)
    if not resume:
        raise CheckpointError(
            f"{checkpoints.directory.parent} already holds the checkpoints of a run (last step {last}); "
            "pass resume=True to continue it, or choose another out_dir="
        )
    if (saved := checkpoints.read_meta()) is not None:
        check_same_run(saved, config, checkpoints.directory)  # before the arrays: their shapes follow settings
    state, meta = checkpoints.restore(state)
    check_same_run(meta, config, checkpoints.directory)
    epoch, batch = meta["position"]["epoch"], meta["position"]["batch"]
    if notify:
        print(f"zoo: resuming from step {int(state.step)} (epoch {epoch + 1}, batch {batch})", file=sys.stderr)
    return state, (meta["history"], epoch, batch, meta.get("partial"))


def _advice(config: TrainConfig, checkpoints: Checkpoints | None) -> str:
    return f"lower lr= (now {config.lr}) or set clip_grad_norm=. " + kept_note(checkpoints)


def _label(model) -> str:
    return model if isinstance(model, str) else "model"
