"""`fit`: train a model on a tfds dataset with optax, over every device, resumable from checkpoints.

A run is a pure function of its TrainConfig: batches come from (seed, epoch, batch), the
step is one jitted function, and a checkpoint holds the whole TrainState plus the data
position, so `resume=True` after an interruption ends exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zoo.data import Pipeline, iterate_batches, normalization_for, steps_per_epoch
from zoo.errors import CheckpointError, NonFiniteLossError, TrainConfigError
from zoo.nn.precision import set_compute_dtype
from zoo.train.checkpoint import Checkpoints, writing
from zoo.train.config import TrainConfig
from zoo.train.evaluate import eval_batch_size, jit_eval_step, run_eval
from zoo.train.optim import make_optimizer
from zoo.train.precise_bn import PreciseBN
from zoo.train.report import plot_curves, write_metrics
from zoo.train.run import build_model, check_same_run, open_data, save_weights
from zoo.train.run_folder import claim_run_folder
from zoo.train.sharding import batch_sharded, check_batch_size, data_mesh, place_batch, replicate, replicated
from zoo.train.steps import TrainState, all_finite, make_train_step, split_model


@dataclass
class FitResult:
    """The trained model (eval mode), one metrics row per epoch, and the final test metrics."""

    model: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    test: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None


class _EpochMeter:
    """Running loss/accuracy/throughput of one epoch, restorable from a checkpoint."""

    def __init__(self, partial: dict[str, float] | None = None):
        p = partial or {}
        self.loss_sum, self.correct, self.seen = p.get("loss_sum", 0.0), p.get("correct", 0.0), p.get("seen", 0)
        self.seconds = p.get("seconds", 0.0)
        self._t0: float | None = time.perf_counter()

    def add(self, loss: float, correct: float, n: int) -> None:
        self.loss_sum += loss * n
        self.correct += correct
        self.seen += n

    def elapsed(self) -> float:
        return self.seconds + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def stop(self) -> None:
        self.seconds, self._t0 = self.elapsed(), None

    def as_dict(self) -> dict[str, float]:
        return {"loss_sum": self.loss_sum, "correct": self.correct, "seen": self.seen, "seconds": self.elapsed()}

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)

    @property
    def acc(self) -> float:
        return self.correct / max(self.seen, 1)


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
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
    **settings: Any,
) -> FitResult:
    """Train `model` (a name, spec, folder or built AnyNet) with `config` (keyword settings override it).

    The data is the config's dataset (a tfds name or `folder:PATH`), or in-memory arrays:
    `data=(images, labels)` with an optional `test_data=` (else a seeded 20% is held out) and
    `class_names=`. With `out_dir`, checkpoints go to out_dir/checkpoints, metrics to
    metrics.jsonl and curves.png, and the final weights to model.safetensors + config.json; a folder
    holding files the run did not write is refused unless `resume` or `overwrite`, and is locked while
    the run writes it.
    """
    config = (config or TrainConfig()).replace(**settings) if settings else (config or TrainConfig())
    mesh = data_mesh()
    check_batch_size(config.batch_size, mesh)
    main_process = jax.process_index() == 0
    config, train_data, test_split = open_data(config, data, test_data, class_names)
    classes = num_classes or train_data.num_classes
    if classes < train_data.num_classes:
        raise TrainConfigError(
            f"--num-classes {classes} is smaller than the {train_data.num_classes} classes of "
            f"{config.dataset!r}; leave it out to use the dataset's count"
        )
    label = model if isinstance(model, str) else "model"
    model = build_model(
        model, num_classes=classes, image_size=config.image_size, pretrained=pretrained, seed=config.seed
    )
    if config.dtype is not None:
        set_compute_dtype(model, config.dtype)
    spec = model.spec
    size = config.image_size or spec.input_size
    norm = normalization_for(train_data, spec.in_channels)
    train_pipe = Pipeline(size, spec.in_channels, norm, augment=config.augment, flip=train_data.flip_safe)
    eval_pipe = Pipeline(size, spec.in_channels, norm)
    per_epoch = steps_per_epoch(len(train_data), config.batch_size, train=True)
    tx = make_optimizer(config, per_epoch)

    train_def, eval_def, params, rest = split_model(model)
    ema = jax.tree.map(jnp.copy, {"params": params, "rest": rest}) if config.ema_decay else None
    state = TrainState(
        params, rest, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key_data(jax.random.key(config.seed)), ema
    )
    state = replicate(mesh, state)
    rep, bat = replicated(mesh), batch_sharded(mesh)
    train_step = jax.jit(
        make_train_step(train_def, tx, config.label_smoothing, config.ema_decay),
        in_shardings=(rep, bat, bat),
        out_shardings=(rep, rep),
        donate_argnums=0,
    )
    eval_step = jit_eval_step(eval_def, mesh)
    finite = jax.jit(all_finite, out_shardings=rep)
    precise = PreciseBN(train_def, eval_def, params, rest, mesh) if config.precise_bn_images else None

    def evaluated(state: TrainState, epoch_no: int) -> TrainState:
        """The weights evaluated and saved (the EMA when on), with BN statistics over
        `precise_bn_images` training images (fixed, seeded batches)."""
        view = (
            dataclasses.replace(state, params=state.ema["params"], rest=state.ema["rest"])
            if state.ema is not None
            else state
        )
        if precise is None:
            return view
        count = max(1, min(per_epoch, -(-config.precise_bn_images // config.batch_size)))
        batches = iterate_batches(
            train_data,
            train_pipe,
            config.batch_size,
            train=True,
            seed=config.seed + 1,
            epoch=epoch_no,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )
        return precise.refresh(view, (b.images for b in itertools.islice(batches, count)))

    eval_size = eval_batch_size(config.eval_batch_size or max(config.batch_size, 256), mesh.size)

    out = Path(out_dir) if out_dir is not None else None
    # The folder is claimed (locked, checked for files this run did not write) before anything is written.
    claim = claim_run_folder(out, resume=resume, overwrite=overwrite) if out is not None and main_process else None
    checkpoints = None
    history: list[dict[str, Any]] = []
    first_epoch, start, partial = 0, 0, None
    final = None
    try:
        if out is not None:
            with writing(out, "the run folder", None):
                checkpoints = Checkpoints(out / "checkpoints", keep=config.keep_checkpoints)
            if progress and main_process:
                print(f"zoo: writing the run to {out}/", file=sys.stderr, flush=True)
        if not resume and checkpoints is not None and checkpoints.latest_step() is not None:
            raise CheckpointError(
                f"{out} already holds the checkpoints of a run (last step {checkpoints.latest_step()}); "
                "pass --resume to continue it, or choose another --out"
            )
        if resume:
            if checkpoints is None:
                raise TrainConfigError("--resume needs --out DIR: the directory of the run to continue")
            if checkpoints.latest_step() is not None:
                if (saved := checkpoints.read_meta()) is not None:
                    check_same_run(saved, config, checkpoints.directory)  # before the arrays: shapes follow settings
                state, meta = checkpoints.restore(state)
                check_same_run(meta, config, checkpoints.directory)
                first_epoch, start = meta["position"]["epoch"], meta["position"]["batch"]
                history, partial = meta["history"], meta.get("partial")
                if main_process and progress:
                    print(
                        f"zoo: resuming from step {int(state.step)} (epoch {first_epoch + 1}, batch {start})",
                        file=sys.stderr,
                    )

        def save(step: int, epoch_at: int, batch_at: int, meter: _EpochMeter | None) -> None:
            if checkpoints is None:
                return
            if not bool(finite(state.params)):
                raise NonFiniteLossError(f"parameters became NaN/inf by step {step}; " + _kept(checkpoints))
            meta = {
                "position": {"epoch": epoch_at, "batch": batch_at},
                "history": history,
                "partial": meter.as_dict() if meter else None,
                "config": config.to_dict(),
                "spec": spec.to_dict(),
            }
            checkpoints.save(step, state, meta)

        if first_epoch < config.epochs:
            batch_shape = (config.batch_size, size, size, spec.in_channels)
            inputs = (
                jax.ShapeDtypeStruct(batch_shape, jnp.float32, sharding=bat),
                jax.ShapeDtypeStruct(batch_shape[:1], jnp.int32, sharding=bat),
            )
            compiled_step = _compile(train_step, (state, *inputs), progress and main_process)
        for epoch in range(first_epoch, config.epochs):
            meter = _EpochMeter(partial if start else None)
            partial = None
            bar = _progress_bar(progress and main_process, per_epoch, start, f"epoch {epoch + 1}/{config.epochs}")
            pending = None

            def settle(item, epoch=epoch, meter=meter, bar=bar) -> None:
                step_no, metrics = item
                loss, correct = float(metrics["loss"]), float(metrics["correct"])
                if not math.isfinite(loss):
                    raise NonFiniteLossError(
                        f"training loss became {loss} at step {step_no} (epoch {epoch + 1}); "
                        f"lower --lr (now {config.lr}) or set a gradient clip. " + _kept(checkpoints)
                    )
                meter.add(loss, correct, config.batch_size)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        loss=f"{meter.loss:.4f}",
                        acc=f"{meter.acc:.3f}",
                        img_s=f"{meter.seen / max(meter.elapsed(), 1e-9):.0f}",
                    )

            for b, batch in enumerate(
                iterate_batches(
                    train_data,
                    train_pipe,
                    config.batch_size,
                    train=True,
                    seed=config.seed,
                    epoch=epoch,
                    start=start,
                    process_index=jax.process_index(),
                    process_count=jax.process_count(),
                ),
                start=start,
            ):
                images, labels = place_batch(mesh, batch.images, batch.labels)
                state, metrics = compiled_step(state, images, labels)
                step_no = epoch * per_epoch + b + 1
                if pending is not None:
                    settle(pending)  # the previous step's numbers: fetched while this step runs
                pending = (step_no, metrics)
                if config.checkpoint_every and step_no % config.checkpoint_every == 0 and b + 1 < per_epoch:
                    settle(pending)
                    pending = None
                    save(step_no, epoch, b + 1, meter)
                if on_step is not None:
                    on_step(step_no)
            if pending is not None:
                settle(pending)
            meter.stop()
            if bar is not None:
                bar.close()
            start = 0
            if state.ema is None:
                state = final = evaluated(state, epoch)
            else:
                final = evaluated(state, epoch)
            val = run_eval(eval_step, final.params, final.rest, test_split, eval_pipe, eval_size, mesh)
            row = {
                "epoch": epoch + 1,
                "step": (epoch + 1) * per_epoch,
                "lr": float(tx_lr(config, per_epoch, epoch)),
                "train_loss": meter.loss,
                "train_acc": meter.acc,
                "val_loss": val["loss"],
                "val_acc": val["top1"],
                "val_top5": val["top5"],
                "img_per_s": meter.seen / max(meter.elapsed(), 1e-9),
                "seconds": meter.elapsed(),
            }
            history.append(row)
            if progress and main_process:
                print(
                    f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
                    f"test loss {val['loss']:.4f} acc {val['top1']:.4f} | {row['img_per_s']:.0f} img/s",
                    file=sys.stderr,
                )
            save((epoch + 1) * per_epoch, epoch + 1, 0, None)
            if out is not None and main_process:
                with writing(out / "metrics.jsonl", "the metrics", checkpoints):
                    write_metrics(out / "metrics.jsonl", history)
                    plot_curves(out / "curves.png", history, title=f"{label} on {config.dataset}")
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    finally:
        if checkpoints is not None:
            checkpoints.close()

    if final is None:  # resumed a finished run: nothing trained, evaluate what was saved
        final = evaluated(state, max(config.epochs - 1, 0))
    params, rest = jax.device_get(final.params), jax.device_get(final.rest)
    nnx.update(model, params, rest)
    model.eval()
    test = (
        {"loss": history[-1]["val_loss"], "top1": history[-1]["val_acc"], "top5": history[-1]["val_top5"]}
        if history
        else {}
    )
    try:
        if out is not None and main_process:
            with writing(out / "model.safetensors", "the final weights", None):
                save_weights(model, out, eval_pipe, train_data.class_names)
    finally:
        if claim is not None:
            claim.release()
    return FitResult(model, history, test, out)


def _compile(train_step, args, notify: bool):
    """The train step compiled ahead of time, before any epoch's clock starts (so img/s leaves it out)."""
    if notify:
        print("zoo: compiling the train step...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    compiled = train_step.lower(*args).compile()
    seconds = time.perf_counter() - t0
    if notify:
        print(f"zoo: compiled in {seconds:.1f} s", file=sys.stderr, flush=True)
    return compiled


def tx_lr(config: TrainConfig, per_epoch: int, epoch: int) -> float:
    """The learning rate at the end of `epoch` (for the metrics rows)."""
    from zoo.train.optim import lr_schedule

    return float(lr_schedule(config, per_epoch)((epoch + 1) * per_epoch - 1))


def _kept(checkpoints: Checkpoints | None) -> str:
    if checkpoints is None:
        return "No checkpoint was kept (no --out directory)."
    last = checkpoints.latest_step()
    if last is None:
        return f"No checkpoint had been saved yet in {checkpoints.directory}."
    return f"The last good checkpoint is step {last} in {checkpoints.directory}; --resume continues from it."


def _progress_bar(enabled: bool, total: int, initial: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False, dynamic_ncols=True)
