"""Layer-wise training for sweeps: one compiled program per distinct layer, not per model.

Compiling a whole sampled network's train step takes longer than training it briefly on
small images, and every model of a sweep is a new network. But an AnyNet is a chain of
stem -> blocks -> head, the blocks of a stage after its first are alike, and models of a
space share many block shapes. Here each layer's forward, and its backward fused with the
SGD update, is its own jitted function keyed by the layer's structure and shapes: a model
compiles only the layers no earlier model (or stage) had, and JAX's persistent cache keeps
them for the next worker. The backward recomputes the layer's forward (one extra forward
per step) to stay a pure function of (params, input, output gradient).

A step calls ~2 programs per layer, so what a call costs in Python counts: each layer's
programs are made once, with its graph and state structure closed over, and its state is
kept as flat lists of arrays. Passing the graph as a static argument instead hashed it on
every call (a third of a small model's step, bench/NOTES.md section 20); the programs are
the same computations either way.

The update is SGD with (Nesterov) momentum and decoupled-mask weight decay exactly as optax's
`add_decayed_weights` + `sgd(momentum, nesterov)` chain computes it, with the learning rate a
traced argument so every model and step shares the compiled update.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

LAYERWISE_OPTIMIZERS = ("sgd", "nesterov")


def layer_chain(model) -> list[nnx.Module]:
    """The AnyNet as the chain it is: stem, every block in order, head."""
    return [model.stem, *(block for stage in model.stages for block in stage.blocks), model.head]


@dataclass(frozen=True)
class _Structure:
    """What a layer's programs close over: its train and eval graphs and the trees of its state."""

    train_def: Any
    eval_def: Any
    params_tree: Any
    rest_tree: Any

    def states(self, params, rest):
        """The layer's parameter and non-parameter states from their flat leaves."""
        return jax.tree.unflatten(self.params_tree, params), jax.tree.unflatten(self.rest_tree, rest)

    def merge(self, params, rest, *, train: bool = True):
        return nnx.merge(self.train_def if train else self.eval_def, *self.states(params, rest))

    def rest_leaves(self, module) -> list:
        """The module's non-parameter state as leaves in the order `rest_tree` unflattens."""
        state = nnx.state(module, nnx.Not(nnx.Param))
        if jax.tree.structure(state) != self.rest_tree:  # checked while tracing, free at run time
            raise AssertionError("a layer's non-parameter state changed structure in its forward")
        return jax.tree.leaves(state)


@dataclass
class _Layer:
    structure: _Structure
    params: list
    rest: list
    momentum: list
    forward_train: Callable
    forward_eval: Callable
    update: Callable  # backward + SGD (the head's also computes the loss)


def _split(module: nnx.Module, *, head: bool, nesterov: bool) -> _Layer:
    module.eval()
    eval_def, _, _ = nnx.split(module, nnx.Param, ...)  # type: ignore[misc]  # nnx types a variadic tuple
    module.train()
    train_def, params, rest = nnx.split(module, nnx.Param, ...)  # type: ignore[misc]
    param_leaves, params_tree = jax.tree.flatten(params)
    rest_leaves, rest_tree = jax.tree.flatten(rest)
    structure = _Structure(train_def, eval_def, params_tree, rest_tree)
    # Momentum starts at zero; made on the host, it costs no compiled program per shape.
    momentum = [jax.device_put(np.zeros(p.shape, p.dtype)) for p in param_leaves]
    update = _head_step(structure, nesterov) if head else _backward_update(structure, nesterov)
    return _Layer(structure, param_leaves, rest_leaves, momentum, _forward_train(structure),
                  _forward_eval(structure), update)  # fmt: skip


@functools.lru_cache(maxsize=1024)
def _forward_train(structure: _Structure) -> Callable:
    def forward_train(params, rest, x):
        module = structure.merge(params, rest)
        y = module(x)
        return y, structure.rest_leaves(module)

    return jax.jit(forward_train)


@functools.lru_cache(maxsize=1024)
def _forward_eval(structure: _Structure) -> Callable:
    return jax.jit(lambda params, rest, x: structure.merge(params, rest, train=False)(x))


def _sgd(params, grads, momentum, lr, mu, wd, nesterov: bool):
    """optax.add_decayed_weights(wd, mask=ndim > 1) then optax.sgd(lr, mu, nesterov), one leaf at a time."""

    def leaf(p, g, m):
        g = g + wd * p if p.ndim > 1 else g
        m = g + mu * m
        step = g + mu * m if nesterov else m
        return p - lr * step, m

    pairs = [leaf(p, g, m) for p, g, m in zip(params, grads, momentum)]
    return [p for p, _ in pairs], [m for _, m in pairs]


@functools.lru_cache(maxsize=1024)
def _backward_update(structure: _Structure, nesterov: bool) -> Callable:
    def backward_update(params, rest, momentum, x, gy, lr, mu, wd):
        # The recomputed forward updates fresh BatchStat variables of this trace and is discarded.
        _, vjp = jax.vjp(lambda p, inputs: structure.merge(p, rest)(inputs), params, x)
        grads, gx = vjp(gy)
        params, momentum = _sgd(params, grads, momentum, lr, mu, wd, nesterov)
        return params, momentum, gx

    return jax.jit(backward_update, donate_argnums=(0, 2))


@functools.lru_cache(maxsize=1024)
def _head_step(structure: _Structure, nesterov: bool) -> Callable:
    def head_step(params, rest, momentum, x, labels, lr, mu, wd):
        def loss_fn(p, inputs):
            module = structure.merge(p, rest)
            logits = module(inputs)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, (logits, structure.rest_leaves(module))

        (loss, (logits, new_rest)), (grads, gx) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(params, x)
        params, momentum = _sgd(params, grads, momentum, lr, mu, wd, nesterov)
        correct = jnp.sum(jnp.argmax(logits, -1) == labels)
        return params, momentum, new_rest, gx, loss, correct

    return jax.jit(head_step, donate_argnums=(0, 2))


class LayerwiseTrainer:
    """Trains one AnyNet layer by layer with SGD; `step` per batch, `evaluate` on a split."""

    def __init__(self, model, *, momentum: float, weight_decay: float, nesterov: bool):
        self.model = model
        chain = layer_chain(model)
        self.layers = [_split(m, head=i == len(chain) - 1, nesterov=bool(nesterov)) for i, m in enumerate(chain)]
        self.mu = np.float32(momentum)
        self.wd = np.float32(weight_decay)

    def step(self, images, labels, lr: float):
        """One SGD step at learning rate `lr` -> (loss, correct) as device scalars."""
        rate, mu, wd = np.float32(lr), self.mu, self.wd
        inputs, new_rests = [images], []
        for layer in self.layers[:-1]:
            y, rest = layer.forward_train(layer.params, layer.rest, inputs[-1])
            inputs.append(y)
            new_rests.append(rest)
        head = self.layers[-1]
        head.params, head.momentum, head.rest, grad, loss, correct = head.update(
            head.params, head.rest, head.momentum, inputs[-1], labels, rate, mu, wd
        )
        for i in range(len(self.layers) - 2, -1, -1):
            layer = self.layers[i]
            layer.params, layer.momentum, grad = layer.update(
                layer.params, layer.rest, layer.momentum, inputs[i], grad, rate, mu, wd
            )
            layer.rest = new_rests[i]
        return loss, correct

    def trained_model(self):
        """The model with the trained parameters and statistics written back (eval mode)."""
        for module, layer in zip(layer_chain(self.model), self.layers):
            nnx.update(module, *layer.structure.states(layer.params, layer.rest))
        self.model.eval()
        return self.model

    def logits(self, images):
        """Eval-mode forward (BN running statistics) of a batch."""
        x = images
        for layer in self.layers:
            x = layer.forward_eval(layer.params, layer.rest, x)
        return x

    def evaluate(self, images, labels) -> dict[str, float]:
        logits = self.logits(images)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        top1 = jnp.mean(jnp.argmax(logits, -1) == labels)
        loss, top1 = jax.device_get((loss, top1))
        return {"loss": float(loss), "top1": float(top1)}
