"""Evaluation: top-1, top-5 and loss of a model on a dataset split, over every device.

`EvalSet` is a split read and preprocessed once (it is the same every epoch), `Evaluator` the
eval program compiled once for its batches: a run evaluates epoch after epoch with neither
repeated, and a sweep worker keeps one EvalSet for every trial.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from zoo.data import Normalization, Pipeline, iterate_batches, normalization_for, open_split
from zoo.data.sources import ImageSplit
from zoo.errors import LabelMismatchError
from zoo.train.sharding import batch_sharded, check_batch_size, data_mesh, place_batch, replicate, replicated
from zoo.train.steps import make_eval_step, split_model


def eval_batch_size(requested: int, devices: int) -> int:
    """The requested size rounded up to a multiple of the device count (padding is masked out)."""
    return -(-requested // devices) * devices


def even_batch_size(num_examples: int, requested: int, devices: int) -> int:
    """The smallest size (a multiple of `devices`) that needs as few batches as `requested` does, so the
    padding is at most a few images: 360 at 256 is two batches of 180, not 256 + 104 padded to 256."""
    size = eval_batch_size(requested, devices)
    batches = max(1, -(-num_examples // size))
    return eval_batch_size(-(-num_examples // batches), devices)


def jit_eval_step(eval_def, mesh):
    rep, bat = replicated(mesh), batch_sharded(mesh)
    return jax.jit(make_eval_step(eval_def), in_shardings=(rep, rep, bat, bat, bat), out_shardings=rep)


# An eval split is kept preprocessed in memory up to this size; a larger one is streamed.
EVAL_CACHE_BYTES = 512 * 2**20


@dataclass(frozen=True)
class EvalSet:
    """This process's slices of a split's fixed-size eval batches (padding masked by `weights`)."""

    split: ImageSplit
    pipeline: Pipeline
    batch_size: int
    batches: tuple | None  # ((images, labels, weights), ...) when they fit EVAL_CACHE_BYTES

    @classmethod
    def prepare(cls, split: ImageSplit, pipeline: Pipeline, batch_size: int) -> EvalSet:
        size = len(split) * pipeline.image_size**2 * pipeline.channels * 4
        if size > EVAL_CACHE_BYTES:
            return cls(split, pipeline, batch_size, None)
        return cls(split, pipeline, batch_size, tuple(_eval_batches(split, pipeline, batch_size)))

    def __iter__(self):
        if self.batches is not None:
            return iter(self.batches)
        return _eval_batches(self.split, self.pipeline, self.batch_size)


def _eval_batches(split, pipeline, batch_size):
    for b in iterate_batches(
        split, pipeline, batch_size, train=False, process_index=jax.process_index(), process_count=jax.process_count()
    ):
        yield np.asarray(b.images), np.asarray(b.labels, np.int32), np.asarray(b.weights)


class Evaluator:
    """`evaluator(params, rest)` -> {loss, top1, top5, count} over an EvalSet, with one compiled program."""

    def __init__(self, eval_def, eval_set: EvalSet, mesh):
        self.eval_set, self.mesh = eval_set, mesh
        self._step = jit_eval_step(eval_def, mesh)

    def __call__(self, params, rest) -> dict[str, float]:
        totals: dict[str, Any] = {}
        for images, labels, weights in self.eval_set:
            placed = place_batch(self.mesh, images, labels, weights)
            sums = self._step(params, rest, *placed)
            totals = sums if not totals else jax.tree.map(lambda a, b: a + b, totals, sums)
        return _means(totals)


def _means(totals) -> dict[str, float]:
    totals = jax.device_get(totals)
    count = float(totals["count"])
    return {
        "loss": float(totals["loss"]) / count,
        "top1": float(totals["top1"]) / count,
        "top5": float(totals["top5"]) / count,
        "count": int(count),
    }


def run_eval(eval_step, params, rest, split: ImageSplit, pipeline: Pipeline, batch_size: int, mesh) -> dict[str, float]:
    """Weighted sums over the whole split (the last batch padded and masked), as means."""
    totals: dict[str, Any] = {}
    for batch in iterate_batches(
        split, pipeline, batch_size, train=False, process_index=jax.process_index(), process_count=jax.process_count()
    ):
        images, labels, weights = place_batch(mesh, batch.images, batch.labels, batch.weights)
        sums = eval_step(params, rest, images, labels, weights)
        totals = sums if not totals else jax.tree.map(lambda a, b: a + b, totals, sums)
    return _means(totals)


def evaluate(
    model,
    dataset: str = "digits",
    split: str = "test",
    *,
    batch_size: int = 256,
    image_size: int | None = None,
    normalization: Normalization | None = None,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """{"loss", "top1", "top5", "count"} of `model` on one split; inputs are normalised with the
    given statistics, else with those of the dataset's training split."""
    mesh = data_mesh()
    batch_size = eval_batch_size(batch_size, mesh.size)
    check_batch_size(batch_size, mesh)
    spec = model.spec
    data = open_split(dataset, split, data_dir=data_dir)
    check_labels(model, data)
    if normalization is None:
        normalization = normalization_for(open_split(dataset, "train", data_dir=data_dir), spec.in_channels)
    pipeline = Pipeline(image_size or spec.input_size, spec.in_channels, normalization)
    _, eval_def, params, rest = split_model(model)
    params, rest = replicate(mesh, params), replicate(mesh, rest)
    return run_eval(jit_eval_step(eval_def, mesh), params, rest, data, pipeline, batch_size, mesh)


def _label_set(names: Sequence[str] | None, count: int) -> str:
    shown = list(names) if names is not None else [str(i) for i in range(count)]
    text = ", ".join(shown[:12]) + (f", ... ({count} in all)" if count > 12 else "")
    return f"[{text}]" if names is not None else f"{count} unnamed classes [{text}]"


def check_labels(model, data: ImageSplit) -> None:
    """LabelMismatchError unless the model's classes are the data's: the same count, and the same
    names in the same order where both have names. Scores across different label sets mean nothing."""
    from zoo.data_config import data_config

    classes = model.spec.num_classes
    names = data_config(model).labels
    where = f"{data.dataset}[{data.split}]"
    same_count = classes == data.num_classes
    data_names = data.class_names
    if data_names is not None and tuple(data_names) == tuple(str(i) for i in range(data.num_classes)):
        data_names = None  # tfds numbers unnamed classes "0".."N-1": that names nothing to compare
    same_names = names is None or data_names is None or tuple(names) == tuple(data_names)
    if same_count and same_names:
        return
    raise LabelMismatchError(
        f"the model's classes are {_label_set(names, classes)} but {where} has "
        f"{_label_set(data.class_names, data.num_classes)}; evaluate a model on the classes it was trained "
        "on (or fine-tune it on this dataset first: `zoo train MODEL --pretrained --dataset ...`)"
    )


def saved_normalization(model_dir) -> Normalization | None:
    """The mean/std a folder's config.json records for its inputs, when it records them."""
    from pathlib import Path

    path = Path(str(model_dir)) / "config.json"
    if not path.is_file():
        return None
    import json

    try:
        pre = json.loads(path.read_text(encoding="utf-8")).get("preprocessing") or {}
        return Normalization(tuple(float(m) for m in pre["mean"]), tuple(float(s) for s in pre["std"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
