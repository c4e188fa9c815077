"""`run_epoch`: one pass of the compiled step over an epoch's batches, with per-step callbacks.

A callback is any callable taking a `StepInfo` (like flax's periodic actions): the progress bar,
the every-N-steps checkpoint and a user's `on_step` are all callbacks, so the loop itself is only
step, count, call. Each step's loss is read one step late (while the next step runs), so the host
never waits on the device; a callback that needs exact numbers calls `info.meter.settle()`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.data import Batch
from zoo.errors import NonFiniteLossError
from zoo.train.sharding import place_batch
from zoo.train.steps import TrainState


class EpochMeter:
    """Running loss/accuracy/throughput of one epoch, restorable from a checkpoint.

    Steps' numbers are added as device arrays and read one step late; with `strict`, a non-finite
    loss raises NonFiniteLossError (else it is kept, and `loss` becomes NaN/inf)."""

    def __init__(
        self,
        batch_size: int,
        partial: dict[str, float] | None = None,
        *,
        strict: bool = True,
        advice: Callable[[], str] | None = None,
    ):
        p = partial or {}
        self.advice = advice
        self.loss_sum, self.correct, self.seen = p.get("loss_sum", 0.0), p.get("correct", 0.0), p.get("seen", 0)
        self.seconds = p.get("seconds", 0.0)
        self.batch_size, self.strict = batch_size, strict
        self._pending: list[tuple[int, int, Any]] = []
        self._t0: float | None = time.perf_counter()

    def push(self, epoch: int, step_no: int, metrics: dict[str, Any]) -> None:
        """Record a step's device metrics; read every earlier step's (they are done by now)."""
        self.settle()
        self._pending.append((epoch, step_no, metrics))

    def settle(self) -> None:
        """Read the pending steps' numbers (waiting for the newest step to finish)."""
        done, self._pending = self._pending, []
        for epoch, step_no, metrics in done:
            loss, correct = float(metrics["loss"]), float(metrics["correct"])
            if self.strict and not math.isfinite(loss):
                raise NonFiniteLossError(
                    f"training loss became {loss} at step {step_no} (epoch {epoch + 1}); "
                    + (self.advice() if self.advice else "lower lr= or set clip_grad_norm=.")
                )
            self.loss_sum += loss * self.batch_size
            self.correct += correct
            self.seen += self.batch_size

    def elapsed(self) -> float:
        return self.seconds + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def stop(self) -> None:
        self.settle()
        self.seconds, self._t0 = self.elapsed(), None

    def as_dict(self) -> dict[str, float]:
        self.settle()
        return {"loss_sum": self.loss_sum, "correct": self.correct, "seen": self.seen, "seconds": self.elapsed()}

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)

    @property
    def acc(self) -> float:
        return self.correct / max(self.seen, 1)

    @property
    def img_per_s(self) -> float:
        return self.seen / max(self.elapsed(), 1e-9)


@dataclass(frozen=True)
class StepInfo:
    """What a per-step callback sees: where the run is, its state after the step, the epoch's meter."""

    epoch: int
    batch: int  # batches of this epoch done, this one included
    step: int  # global step number, 1-based
    state: TrainState
    meter: EpochMeter


StepCallback = Callable[[StepInfo], None]


def run_epoch(
    step,
    state: TrainState,
    batches: Iterable[Batch],
    *,
    mesh,
    epoch: int,
    steps_per_epoch: int,
    meter: EpochMeter,
    start: int = 0,
    callbacks: Sequence[StepCallback] = (),
) -> tuple[TrainState, EpochMeter]:
    """Run `step` over `batches` (batch `start` onwards of `epoch`) -> (the new state, the settled meter)."""
    for b, batch in enumerate(batches, start=start):
        images, labels = place_batch(mesh, batch.images, batch.target)
        state, metrics = step(state, images, labels)
        step_no = epoch * steps_per_epoch + b + 1
        meter.push(epoch, step_no, metrics)
        info = StepInfo(epoch, b + 1, step_no, state, meter)
        for callback in callbacks:
            callback(info)
    meter.stop()
    return state, meter


class ProgressBar:
    """A tqdm bar per epoch showing the running loss, accuracy and img/s (a per-step callback)."""

    def __init__(self, total: int, initial: int, desc: str):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False, dynamic_ncols=True)

    def __call__(self, info: StepInfo) -> None:
        m = info.meter
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{m.loss:.4f}", acc=f"{m.acc:.3f}", img_s=f"{m.img_per_s:.0f}")

    def close(self) -> None:
        self.bar.close()


class Every:
    """Call `action(info)` every `steps` steps, except at an epoch's last batch (the epoch's end handles it)."""

    def __init__(self, steps: int, steps_per_epoch: int, action: StepCallback):
        self.steps, self.steps_per_epoch, self.action = steps, steps_per_epoch, action

    def __call__(self, info: StepInfo) -> None:
        if self.steps and info.step % self.steps == 0 and info.batch < self.steps_per_epoch:
            self.action(info)
