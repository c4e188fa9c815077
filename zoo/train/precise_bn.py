"""Precise BatchNorm statistics (as pycls computes them) before each evaluation.

Running averages with a slow momentum (the seed uses 0.99) lag far behind the weights on
small datasets, so a model that trains well can evaluate at chance for epochs. Recomputing
each BN layer's mean and variance as the average over a few thousand training images
makes the validation numbers describe the weights actually reached.
"""

from __future__ import annotations

import jax
from flax import nnx


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
