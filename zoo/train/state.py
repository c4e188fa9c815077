"""The first two pieces of a run: `init_state` (graphs, optimizer, TrainState) and `compile_step`.

`fit`, `zoo train` and the sweep's trial worker all start a run with these two, so a trial and
`fit` with the same recipe compute the same program on the same numbers.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from zoo.nn import conv_tuning
from zoo.train.config import TrainConfig
from zoo.train.optim import make_optimizer
from zoo.train.sharding import AXIS, batch_sharded, replicate, replicated
from zoo.train.steps import TrainState, make_train_step, split_model


@dataclass(frozen=True)
class Graphs:
    """What stays fixed over a run: the model's train- and eval-mode graphs, its optimizer, its mesh."""

    train: Any
    eval: Any
    tx: optax.GradientTransformation
    mesh: Mesh
    num_classes: int = 0  # the model's outputs: the width of soft targets when batches are mixed


def one_device_mesh() -> Mesh:
    """A mesh of this process's first device (a sweep trial trains on one device)."""
    return Mesh(np.asarray(jax.local_devices()[:1]), (AXIS,))


def init_state(model, config: TrainConfig, steps_per_epoch: int, mesh: Mesh) -> tuple[Graphs, TrainState]:
    """The run's fixed graphs and its initial TrainState (with an EMA copy when `ema_decay` is on),
    replicated over `mesh`."""
    tx = make_optimizer(config, steps_per_epoch)
    train_def, eval_def, params, rest = split_model(model)
    ema = jax.tree.map(jnp.copy, {"params": params, "rest": rest}) if config.ema_decay else None
    key = jax.random.key_data(jax.random.key(config.seed))
    state = TrainState(params, rest, tx.init(params), jnp.zeros((), jnp.int32), key, ema)
    return Graphs(train_def, eval_def, tx, mesh, model.spec.num_classes), replicate(mesh, state)


def compile_step(
    graphs: Graphs, state: TrainState, config: TrainConfig, batch_shape: tuple[int, ...], *, notify: bool = False
):
    """The train step compiled ahead of time for `batch_shape` (NHWC), before any epoch's clock starts
    (so img/s leaves it out); it donates the state it is given."""
    rep, bat = replicated(graphs.mesh), batch_sharded(graphs.mesh)
    step = jax.jit(
        make_train_step(graphs.train, graphs.tx, config.label_smoothing, config.ema_decay, config.accum_steps),
        in_shardings=(rep, bat, bat),
        out_shardings=(rep, rep),
        donate_argnums=0,
    )
    # Labels, or the soft targets of mixed batches.
    labels = (
        jax.ShapeDtypeStruct((batch_shape[0], graphs.num_classes), jnp.float32, sharding=bat)
        if config.mixes
        else jax.ShapeDtypeStruct(batch_shape[:1], jnp.int32, sharding=bat)
    )
    inputs = (jax.ShapeDtypeStruct(batch_shape, jnp.float32, sharding=bat), labels)
    if notify:
        print("zoo: compiling the train step...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    timed_before = sum(t.cost_s for t in conv_tuning.report())
    compiled = step.lower(state, *inputs).compile()
    if notify:
        tuned = conv_tuning.unreported()  # timed while this run was set up (model, evaluation, this step)
        if tuned:
            print(f"zoo: {conv_tuning.summary(tuned)}", file=sys.stderr, flush=True)
        compile_s = time.perf_counter() - t0 - (sum(t.cost_s for t in conv_tuning.report()) - timed_before)
        print(f"zoo: compiled in {compile_s:.1f} s", file=sys.stderr, flush=True)
    return compiled
