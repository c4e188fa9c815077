"""The AnyNet template: stem -> stages of blocks -> head, every part looked up by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
from flax import nnx

from zoo.errors import ComponentContractError
from zoo.spec import ModelSpec


def _build(record: Any, plugin: str, args: tuple, rngs: nnx.Rngs) -> nnx.Module:
    try:
        module = record.build(*args, rngs=rngs)
    except ComponentContractError:
        raise
    except TypeError as err:
        raise ComponentContractError(
            f"{record.kind} {record.name!r} from plugin {plugin!r} failed to build with arguments {args}: {err}"
        ) from err
    if not isinstance(module, nnx.Module):
        raise ComponentContractError(
            f"{record.kind} {record.name!r} from plugin {plugin!r} must build a flax.nnx.Module, "
            f"got {type(module).__name__}"
        )
    return module


class Stage(nnx.Module):
    """`depth` blocks; the first changes width and carries the stride."""

    def __init__(self, blocks: list[nnx.Module]):
        self.blocks = nnx.List(blocks)

    def __call__(self, x: jax.Array) -> jax.Array:
        for block in self.blocks:
            x = block(x)
        return x


class AnyNet(nnx.Module):
    """A network built from a ModelSpec; components come from `plugins` (zoo.plugins.manager(),
    or anything with get(kind, name) and provider(kind, name)): zoo.create supplies it."""

    def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs, plugins: Any):
        self.spec = spec
        options = dict(spec.options)
        stem = plugins.get("stem", spec.stem)
        block = plugins.get("block", spec.block)
        head = plugins.get("head", spec.head)
        self.stem = _build(
            stem, plugins.provider("stem", spec.stem), (spec.in_channels, spec.stem_width, options), rngs
        )
        stages = []
        width = spec.stem_width
        block_plugin = plugins.provider("block", spec.block)
        for stage in spec.stages:
            blocks = []
            for i in range(stage.depth):
                args = (
                    width,
                    stage.width,
                    stage.stride if i == 0 else 1,
                    stage.group_width,
                    stage.bottleneck_ratio,
                    options,
                )
                blocks.append(_build(block, block_plugin, args, rngs))
                width = stage.width
            stages.append(Stage(blocks))
        self.stages = nnx.List(stages)
        self.head = _build(head, plugins.provider("head", spec.head), (width, spec.num_classes, options), rngs)

    def named_layers(self) -> Iterator[tuple[str, nnx.Module]]:
        """The top-level layers in order: stem, stages.0 ... stages.N, head."""
        yield "stem", self.stem
        for i, stage in enumerate(self.stages):
            yield f"stages.{i}", stage
        yield "head", self.head

    def features(self, x: jax.Array) -> jax.Array:
        """The last stage's feature map, before the head."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(x))
