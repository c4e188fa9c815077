"""Precise BatchNorm statistics (as pycls computes them) before each evaluation.

Running averages with a slow momentum (the seed uses 0.99) lag far behind the weights on
small datasets, so a model that trains well can evaluate at chance for epochs. Recomputing
each BN layer's mean and variance as the average over a few thousand training images
makes the validation numbers describe the weights actually reached.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import jax
import numpy as np
from flax import nnx

from zoo.data import iterate_batches, steps_per_epoch
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
    """Compiled once per run: `precise(state, epoch)` gives the state with BN statistics averaged over
    `images` training images (fixed, seeded batches: seed + 1, so not the epoch's own order)."""

    def __init__(self, graphs, state, split, pipeline, *, images: int, batch_size: int, seed: int):
        mesh = graphs.mesh
        rep, bat = replicated(mesh), batch_sharded(mesh)
        self._mesh, self.split, self.pipeline = mesh, split, pipeline
        self.batch_size, self.seed = batch_size, seed
        per_epoch = steps_per_epoch(len(split), batch_size, train=True)
        self.count = max(1, min(per_epoch, -(-images // batch_size)))
        stats_def = stats_graph(graphs.train, state.params, state.rest)
        self._batch_stats = jax.jit(make_batch_stats_fn(stats_def), in_shardings=(rep, rep, bat), out_shardings=rep)
        self._average = jax.jit(lambda p, r, stats: averaged_rest(graphs.eval, p, r, stats), out_shardings=rep)

    @classmethod
    def for_run(cls, graphs, state, run) -> PreciseBN:
        """The precise BN of a run (zoo.train.run.RunData): its config's image count over its training data."""
        config = run.config
        return cls(graphs, state, run.train, run.train_pipe, images=config.precise_bn_images,
                   batch_size=config.batch_size, seed=config.seed)  # fmt: skip

    def __call__(self, state, epoch: int):
        batches = iterate_batches(
            self.split,
            self.pipeline,
            self.batch_size,
            train=True,
            seed=self.seed + 1,
            epoch=epoch,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )
        return self.refresh(state, (b.images for b in itertools.islice(batches, self.count)))

    def refresh(self, state, images: Iterable[np.ndarray]):
        stats = [self._batch_stats(state.params, state.rest, place_batch(self._mesh, x)[0]) for x in images]
        return state.replace(rest=self._average(state.params, state.rest, stats)) if stats else state
