"""Evaluation: top-1, top-5 and loss of a model on a dataset split, over every device."""

from __future__ import annotations

import os
from typing import Any

import jax

from zoo.data import Normalization, Pipeline, iterate_batches, normalization_for, open_split
from zoo.data.sources import ImageSplit
from zoo.train.sharding import batch_sharded, check_batch_size, data_mesh, place_batch, replicate, replicated
from zoo.train.steps import make_eval_step, split_model


def eval_batch_size(requested: int, devices: int) -> int:
    """The requested size rounded up to a multiple of the device count (padding is masked out)."""
    return -(-requested // devices) * devices


def jit_eval_step(eval_def, mesh):
    rep, bat = replicated(mesh), batch_sharded(mesh)
    return jax.jit(make_eval_step(eval_def), in_shardings=(rep, rep, bat, bat, bat), out_shardings=rep)


def run_eval(eval_step, params, rest, split: ImageSplit, pipeline: Pipeline, batch_size: int, mesh) -> dict[str, float]:
    """Weighted sums over the whole split (the last batch padded and masked), as means."""
    totals: dict[str, Any] = {}
    for batch in iterate_batches(
        split, pipeline, batch_size, train=False, process_index=jax.process_index(), process_count=jax.process_count()
    ):
        images, labels, weights = place_batch(mesh, batch.images, batch.labels, batch.weights)
        sums = eval_step(params, rest, images, labels, weights)
        totals = sums if not totals else jax.tree.map(lambda a, b: a + b, totals, sums)
    totals = jax.device_get(totals)
    count = float(totals["count"])
    return {
        "loss": float(totals["loss"]) / count,
        "top1": float(totals["top1"]) / count,
        "top5": float(totals["top5"]) / count,
        "count": int(count),
    }


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
    check_batch_size(batch_size, mesh, "eval batch size")
    spec = model.spec
    data = open_split(dataset, split, data_dir=data_dir)
    if normalization is None:
        normalization = normalization_for(open_split(dataset, "train", data_dir=data_dir), spec.in_channels)
    pipeline = Pipeline(image_size or spec.input_size, spec.in_channels, normalization)
    _, eval_def, params, rest = split_model(model)
    params, rest = replicate(mesh, params), replicate(mesh, rest)
    return run_eval(jit_eval_step(eval_def, mesh), params, rest, data, pipeline, batch_size, mesh)


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
