"""Building models by name or spec: `create` and `load`."""

from __future__ import annotations

from typing import Any

from flax import nnx

from zoo.errors import PretrainedError
from zoo.nn.anynet import AnyNet
from zoo.registry import get_spec
from zoo.spec import ModelSpec


def resolve_spec(name_or_spec: str | ModelSpec, **overrides: Any) -> ModelSpec:
    """A spec from a name or spec, with ModelSpec fields overridden (num_classes=..., ...)."""
    spec = name_or_spec if isinstance(name_or_spec, ModelSpec) else get_spec(name_or_spec)
    return spec.replace(**overrides) if overrides else spec


def create(name_or_spec: str | ModelSpec, *, seed: int = 0, rngs: nnx.Rngs | None = None, **overrides: Any) -> AnyNet:
    """Build a randomly initialised model; keyword overrides replace spec fields."""
    spec = resolve_spec(name_or_spec, **overrides)
    return AnyNet(spec, rngs=rngs if rngs is not None else nnx.Rngs(seed))


def load(name_or_spec: str | ModelSpec, pretrained: bool | str = False, **overrides: Any) -> AnyNet:
    """Build a model, with pretrained weights when asked for (see docs/weights.md)."""
    if pretrained:
        name = name_or_spec if isinstance(name_or_spec, str) else "this spec"
        raise PretrainedError(
            f"no pretrained weights are published for {name!r} yet; "
            "use pretrained=False, or train your own with the zoo's training tools"
        )
    return create(name_or_spec, **overrides)
