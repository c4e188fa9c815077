"""Layer-wise training for sweeps: one compiled program per distinct layer, not per model.

Compiling a whole sampled network's train step takes longer than training it briefly on
small images, and every model of a sweep is a new network. But an AnyNet is a chain of
stem -> blocks -> head, the blocks of a stage after its first are alike, and models of a
space share many block shapes. Here each layer's forward, and its backward fused with the
SGD update, is its own jitted function keyed by the layer's structure and shapes: a model
compiles only the layers no earlier model (or stage) had, and JAX's persistent cache keeps
them for the next worker. The backward recomputes the layer's forward (one extra forward
per step) to stay a pure function of (params, input, output gradient).

The update is SGD with (Nesterov) momentum and decoupled-mask weight decay exactly as optax's
`add_decayed_weights` + `sgd(momentum, nesterov)` chain computes it, with the learning rate a
traced argument so every model and step shares the compiled update.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

LAYERWISE_OPTIMIZERS = ("sgd", "nesterov")


def layer_chain(model) -> list[nnx.Module]:
    """The AnyNet as the chain it is: stem, every block in order, head."""
    return [model.stem, *(block for stage in model.stages for block in stage.blocks), model.head]


@dataclass
class _Layer:
    train_def: Any
    eval_def: Any
    params: Any
    rest: Any
    momentum: Any


def _split(module: nnx.Module) -> _Layer:
    module.train()
    train_def, params, rest = nnx.split(module, nnx.Param, ...)  # type: ignore[misc]  # nnx types a variadic tuple
    module.eval()
    eval_def, _, _ = nnx.split(module, nnx.Param, ...)  # type: ignore[misc]
    return _Layer(train_def, eval_def, params, rest, jax.tree.map(jnp.zeros_like, params))


@partial(jax.jit, static_argnums=0)
def _forward_train(graph, params, rest, x):
    module = nnx.merge(graph, params, rest)
    y = module(x)
    return y, nnx.state(module, nnx.Not(nnx.Param))


@partial(jax.jit, static_argnums=0)
def _forward_eval(graph, params, rest, x):
    return nnx.merge(graph, params, rest)(x)


def _sgd(params, grads, momentum, lr, mu, wd, nesterov: bool):
    """optax.add_decayed_weights(wd, mask=ndim > 1) then optax.sgd(lr, mu, nesterov), one leaf at a time."""

    def leaf(p, g, m):
        g = g + wd * p if p.ndim > 1 else g
        m = g + mu * m
        step = g + mu * m if nesterov else m
        return p - lr * step, m

    pairs = jax.tree.map(leaf, params, grads, momentum)
    is_pair = lambda t: isinstance(t, tuple)  # noqa: E731
    return jax.tree.map(lambda t: t[0], pairs, is_leaf=is_pair), jax.tree.map(lambda t: t[1], pairs, is_leaf=is_pair)


@partial(jax.jit, static_argnums=(0, 1), donate_argnums=(2, 4))
def _backward_update(graph, nesterov, params, rest, momentum, x, gy, lr, mu, wd):
    def forward(p, inputs):
        # Fresh BatchStat variables in this trace: the recomputed forward updates them and is discarded.
        return nnx.merge(graph, p, jax.tree.map(lambda a: a, rest))(inputs)

    _, vjp = jax.vjp(forward, params, x)
    grads, gx = vjp(gy)
    params, momentum = _sgd(params, grads, momentum, lr, mu, wd, nesterov)
    return params, momentum, gx


@partial(jax.jit, static_argnums=(0, 1), donate_argnums=(2, 4))
def _head_step(graph, nesterov, params, rest, momentum, x, labels, lr, mu, wd):
    def loss_fn(p, inputs):
        module = nnx.merge(graph, p, rest)
        logits = module(inputs)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, (logits, nnx.state(module, nnx.Not(nnx.Param)))

    (loss, (logits, new_rest)), (grads, gx) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(params, x)
    params, momentum = _sgd(params, grads, momentum, lr, mu, wd, nesterov)
    correct = jnp.sum(jnp.argmax(logits, -1) == labels)
    return params, momentum, new_rest, gx, loss, correct


class LayerwiseTrainer:
    """Trains one AnyNet layer by layer with SGD; `step` per batch, `evaluate` on a split."""

    def __init__(self, model, *, momentum: float, weight_decay: float, nesterov: bool):
        self.model = model
        self.layers = [_split(m) for m in layer_chain(model)]
        self.mu = jnp.float32(momentum)
        self.wd = jnp.float32(weight_decay)
        self.nesterov = bool(nesterov)

    def step(self, images, labels, lr: float):
        """One SGD step at learning rate `lr` -> (loss, correct) as device scalars."""
        lr = jnp.float32(lr)
        inputs, new_rests = [jnp.asarray(images)], []
        for layer in self.layers[:-1]:
            y, rest = _forward_train(layer.train_def, layer.params, layer.rest, inputs[-1])
            inputs.append(y)
            new_rests.append(rest)
        head = self.layers[-1]
        head.params, head.momentum, head.rest, grad, loss, correct = _head_step(
            head.train_def,
            self.nesterov,
            head.params,
            head.rest,
            head.momentum,
            inputs[-1],
            labels,
            lr,
            self.mu,
            self.wd,
        )
        for i in range(len(self.layers) - 2, -1, -1):
            layer = self.layers[i]
            layer.params, layer.momentum, grad = _backward_update(
                layer.train_def,
                self.nesterov,
                layer.params,
                layer.rest,
                layer.momentum,
                inputs[i],
                grad,
                lr,
                self.mu,
                self.wd,
            )
            layer.rest = new_rests[i]
        return loss, correct

    def trained_model(self):
        """The model with the trained parameters and statistics written back (eval mode)."""
        for module, layer in zip(layer_chain(self.model), self.layers):
            nnx.update(module, layer.params, layer.rest)
        self.model.eval()
        return self.model

    def logits(self, images):
        """Eval-mode forward (BN running statistics) of a batch."""
        x = jnp.asarray(images)
        for layer in self.layers:
            x = _forward_eval(layer.eval_def, layer.params, layer.rest, x)
        return x

    def evaluate(self, images, labels) -> dict[str, float]:
        logits = self.logits(images)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        top1 = jnp.mean(jnp.argmax(logits, -1) == labels)
        loss, top1 = jax.device_get((loss, top1))
        return {"loss": float(loss), "top1": float(top1)}
