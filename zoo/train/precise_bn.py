"""Precise BatchNorm statistics (as pycls computes them) before each evaluation.

Running averages with a slow momentum (the seed uses 0.99) lag far behind the weights on
small datasets, so a model that trains well can evaluate at chance for epochs. Recomputing
each BN layer's mean and variance as the average over a few thousand training images
makes the validation numbers describe the weights actually reached.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable

import jax
import jax.numpy as jnp
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


def make_accumulate_fn(stats_def):
    """(params, rest, images, sums) -> sums + the BatchStat state this batch alone gives.

    One program for every batch: summing as the batches come needs no program over all of them
    (a jitted mean over a list of N statistics compiled for seconds, and again for each N)."""

    def accumulate(params, rest, images, sums):
        return jax.tree.map(jnp.add, sums, batch_stats(stats_def, params, rest, images))

    return accumulate


def batch_stats(stats_def, params, rest, images):
    """The BatchStat state one batch alone gives (the stats graph's momentum is 0)."""
    model = nnx.merge(stats_def, params, rest)
    model(images)
    return nnx.state(model, nnx.BatchStat)


def averaged_rest(eval_def, params, rest, sums, count):
    """`rest` with every BatchStat replaced by its sum over `count` batches divided by `count`."""
    model = nnx.merge(eval_def, params, rest)
    nnx.update(model, jax.tree.map(lambda x: x / count, sums))
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
        shape = (batch_size, pipeline.image_size, pipeline.image_size, pipeline.channels)
        like = jax.eval_shape(
            lambda p, r: batch_stats(stats_def, p, r, jnp.zeros(shape, jnp.float32)), state.params, state.rest
        )
        self._zeros = jax.jit(lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), like), out_shardings=rep)
        self._accumulate = jax.jit(
            make_accumulate_fn(stats_def), in_shardings=(rep, rep, bat, rep), out_shardings=rep, donate_argnums=3
        )
        self._average = jax.jit(lambda p, r, sums, n: averaged_rest(graphs.eval, p, r, sums, n), out_shardings=rep)

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
        """`state` with BN statistics averaged over the batches of `images` (unchanged when there are none)."""
        sums, count = self._zeros(), 0
        for x in images:
            sums = self._accumulate(state.params, state.rest, place_batch(self._mesh, x)[0], sums)
            count += 1
        if not count:
            return state
        return dataclasses.replace(state, rest=self._average(state.params, state.rest, sums, jnp.float32(count)))
