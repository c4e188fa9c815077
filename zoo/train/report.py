"""What a run leaves behind besides weights: metrics.jsonl, metrics.csv and curves.png, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_path


def _atomic_write(path: Path, write) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def epoch_row(config, steps_per_epoch: int, epoch: int, meter, scores: dict[str, dict[str, float]]) -> dict[str, Any]:
    """One metrics.jsonl row: the epoch's training numbers (an EpochMeter) and its evaluation.

    `scores` maps each evaluated set of weights ("raw", and "ema" with an EMA) to its metrics, the
    better one first: val_* are that one's, and with two sets each also has its own val_*_raw /
    val_*_ema columns, `weights` naming the better."""
    from zoo.train.optim import lr_schedule, optimizer_steps

    (best, val), *others = scores.items()
    updates = optimizer_steps(config, (epoch + 1) * steps_per_epoch)
    row = {
        "epoch": epoch + 1,
        "step": (epoch + 1) * steps_per_epoch,
        "lr": float(lr_schedule(config, steps_per_epoch)(max(updates - 1, 0))),  # the epoch's last update's
        "train_loss": meter.loss,
        "train_acc": meter.acc,
        "val_loss": val["loss"],
        "val_acc": val["top1"],
        "val_top5": val["top5"],
        "img_per_s": meter.img_per_s,
        "seconds": meter.elapsed(),
    }
    if others:
        row["weights"] = best
        for name, metrics in scores.items():
            row.update({f"val_loss_{name}": metrics["loss"], f"val_acc_{name}": metrics["top1"],
                        f"val_top5_{name}": metrics["top5"]})  # fmt: skip
    return row


def epoch_line(row: dict[str, Any]) -> str:
    """The console line of one epoch's row."""
    return (
        f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
        f"test loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}{_choice(row)} | {row['img_per_s']:.0f} img/s"
    )


def _choice(row: dict[str, Any]) -> str:
    """' (ema; raw 0.9700)': which weights the numbers are, and the other's top-1, when there are two."""
    if "weights" not in row:
        return ""
    other = "raw" if row["weights"] == "ema" else "ema"
    return f" ({row['weights']}; {other} {row[f'val_acc_{other}']:.4f})"


def write_metrics(path: str | os.PathLike, history: Sequence[dict[str, Any]]) -> None:
    """One JSON object per epoch (rewritten whole, so a resumed run leaves no duplicate lines)."""
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in history)
    _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_csv(path: str | os.PathLike, history: Sequence[dict[str, Any]]) -> None:
    """The same rows as one CSV table (a column per key, in order of first appearance; blank where a row
    lacks one), for spreadsheets and pandas."""
    columns = list(dict.fromkeys(key for row in history for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text.getvalue(), encoding="utf-8"))


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_curves(path: str | os.PathLike, history: Sequence[dict[str, Any]], title: str = "") -> None:
    """Training and validation loss and accuracy per epoch, as the d2l book plots them."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(9, 3.5), dpi=100)
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [r["train_loss"] for r in history], "-o", label="train loss")
    loss_ax.plot(epochs, [r["val_loss"] for r in history], "--o", label="val loss")
    acc_ax.plot(epochs, [r["train_acc"] for r in history], "-o", label="train acc")
    acc_ax.plot(epochs, [r["val_acc"] for r in history], "--o", label="val acc")
    for ax, label in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
