"""Epoch loggers: each is called with every epoch's metrics row once the epoch is evaluated and saved.

The console line, the run folder's files (metrics.jsonl, metrics.csv, curves.png), TensorBoard
(through tensorboardX, an optional extra) and a user's `fit(on_log=...)` are all loggers, so the
loop only calls them in turn, as it calls per-step callbacks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import TrainConfigError
from zoo.train.checkpoint import Checkpoints, writing
from zoo.train.report import epoch_line, plot_curves, write_csv, write_metrics

EpochLog = Callable[[dict[str, Any]], None]


def console(row: dict[str, Any]) -> None:
    """The epoch's line on stderr."""
    print(epoch_line(row), file=sys.stderr, flush=True)


class MetricsFiles:
    """metrics.jsonl, metrics.csv and curves.png of the whole history so far, rewritten each epoch (a
    resumed run leaves no duplicate rows)."""

    def __init__(self, out: Path, history: Sequence[dict[str, Any]], title: str, checkpoints: Checkpoints | None):
        self.out, self.history, self.title, self.checkpoints = out, history, title, checkpoints

    def __call__(self, row: dict[str, Any]) -> None:
        with writing(self.out / "metrics.jsonl", "the metrics", self.checkpoints):
            write_metrics(self.out / "metrics.jsonl", self.history)
            write_csv(self.out / "metrics.csv", self.history)
            plot_curves(self.out / "curves.png", self.history, title=self.title)


class TensorBoard:
    """Every number of each row as a TensorBoard scalar at the row's step, in DIR/tensorboard/."""

    def __init__(self, directory: Path):
        self.writer = summary_writer(directory)

    def __call__(self, row: dict[str, Any]) -> None:
        for name, value in row.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and name not in ("epoch", "step"):
                self.writer.add_scalar(name, value, row["step"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def summary_writer(directory: Path):
    """tensorboardX's SummaryWriter, or a TrainConfigError naming the extra that installs it."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise TrainConfigError(
            "tensorboard=True needs tensorboardX, which is not installed: pip install 'anynet-zoo[tensorboard]' "
            "(metrics.jsonl and metrics.csv are written without it)"
        ) from None
    return SummaryWriter(logdir=str(directory))


def epoch_loggers(
    out: Path | None,
    history: Sequence[dict[str, Any]],
    *,
    title: str,
    checkpoints: Checkpoints | None,
    writes: bool,
    console_line: bool,
    tensorboard: bool,
    on_log: EpochLog | None,
) -> list[EpochLog]:
    """The loggers of a run: what is shown, what is written, the user's; none but on the process that
    `writes` (process 0: every process holds the same numbers)."""
    if tensorboard and out is None:
        raise TrainConfigError("tensorboard=True needs out_dir=: the events go to out_dir/tensorboard/")
    if not writes:
        return []
    loggers: list[EpochLog] = [console] if console_line else []
    if out is not None:
        loggers.append(MetricsFiles(out, history, title, checkpoints))
        if tensorboard:
            loggers.append(TensorBoard(out / "tensorboard"))
    if on_log is not None:
        loggers.append(on_log)
    return loggers


def close_loggers(loggers: Sequence[EpochLog]) -> None:
    """Close what the loggers hold open (TensorBoard's event file)."""
    for log in loggers:
        if isinstance(log, TensorBoard):
            log.close()
