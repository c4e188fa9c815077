"""What a model costs and what shapes it gives, without training it: `complexity` counts
params / flops / acts from the spec alone, `layer_summary` prints each top-level layer's
output shape as the d2l book does."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zoo.api import create
from zoo.complexity import spec_complexity
from zoo.errors import SpecError
from zoo.plugins import manager
from zoo.registry import get_spec
from zoo.spec import ModelSpec


def complexity(name_or_spec: str | ModelSpec, input_size: int | None = None) -> dict[str, int]:
    """Complexity of a named model or a spec: params, flops (multiply-accumulates), acts."""
    spec = name_or_spec if isinstance(name_or_spec, ModelSpec) else get_spec(name_or_spec)
    return spec_complexity(spec, manager(), input_size)


def layer_shapes(model_or_name, input_shape: tuple[int, ...]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(layer name, layer class, output shape) for each top-level layer, computed abstractly."""
    if len(input_shape) != 4 or not all(isinstance(d, int) and 0 < d < 2**31 for d in input_shape):
        raise SpecError(
            f"input_shape must be four positive integers (N, H, W, C) below 2**31, got {tuple(input_shape)}"
        )
    model: Any
    if isinstance(model_or_name, str):
        model = nnx.eval_shape(lambda: create(model_or_name))
    else:
        model = model_or_name
    channels = model.spec.in_channels
    if input_shape[-1] != channels:
        raise SpecError(
            f"input_shape {tuple(input_shape)} has {input_shape[-1]} channels but the model takes "
            f"{channels}; inputs are NHWC"
        )
    graphdef, state = nnx.split(model)

    def forward(state, x):
        net = nnx.merge(graphdef, state)
        net.eval()
        outputs = []
        for _, layer in net.named_layers():
            x = layer(x)
            outputs.append(x)
        return outputs

    shapes = jax.eval_shape(forward, state, jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32))
    layers = list(model.named_layers())
    return [(name, type(layer).__name__, tuple(s.shape)) for (name, layer), s in zip(layers, shapes)]


def layer_summary(model_or_name, input_shape: tuple[int, ...]) -> str:
    """One line per top-level layer with its output shape; returned and printed."""
    lines = [
        f"{name:<10} {cls:<16} output shape: {shape}" for name, cls, shape in layer_shapes(model_or_name, input_shape)
    ]
    text = "\n".join(lines)
    print(text)
    return text
