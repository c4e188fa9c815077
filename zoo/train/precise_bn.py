"""Precise BatchNorm statistics (as pycls computes them) before each evaluation.

Running averages with a slow momentum (the seed uses 0.99) lag far behind the weights on
small datasets, so a model that trains well can evaluate at chance for epochs. Recomputing
each BN layer's mean and variance as the average over a few thousand training images
makes the validation numbers describe the weights actually reached.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import numpy as np
from flax import nnx

from zoo.train.sharding import batch_sharded, place_batch, replicated


def stats_graph(train_def, params, rest):
    """A train-mode graph whose BatchNorm layers store the last batch's statistics (momentum 0)."""
    model = nnx.merge(train_def, params, rest)
    for _, module in nnx.iter_modules(model):
        if isinstance(module, nnx.BatchNorm):
            module.momentum = 0.0
    model.train()
    graph, _, _ = nnx.split(model, nnx.Param, ...)
    return graph


def make_batch_stats_fn(stats_def):
    """(params, rest, images) -> the BatchStat state this batch alone gives."""

    def batch_stats(params, rest, images):
        model = nnx.merge(stats_def, params, rest)
        model(images)
        return nnx.state(model, nnx.BatchStat)

    return batch_stats


def averaged_rest(eval_def, params, rest, batch_stats: list):
    """`rest` with every BatchStat replaced by its mean over the batches."""
    mean = jax.tree.map(lambda *xs: sum(xs) / len(xs), *batch_stats)
    model = nnx.merge(eval_def, params, rest)
    nnx.update(model, mean)
    return nnx.state(model, nnx.Not(nnx.Param))


class PreciseBN:
    """Compiled once per run: `refresh(state, batches)` gives the state with precise BN statistics."""

    def __init__(self, train_def, eval_def, params, rest, mesh):
        rep, bat = replicated(mesh), batch_sharded(mesh)
        self._mesh = mesh
        self._batch_stats = jax.jit(
            make_batch_stats_fn(stats_graph(train_def, params, rest)), in_shardings=(rep, rep, bat), out_shardings=rep
        )
        self._average = jax.jit(lambda p, r, stats: averaged_rest(eval_def, p, r, stats), out_shardings=rep)

    def refresh(self, state, images: Iterable[np.ndarray]):
        stats = [self._batch_stats(state.params, state.rest, place_batch(self._mesh, x)[0]) for x in images]
        return state.replace(rest=self._average(state.params, state.rest, stats)) if stats else state
