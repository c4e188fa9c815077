"""Params, flops and activations of a model, counted analytically from its spec.

No model is built: each component's own complexity function is chained over the spec,
so counting thousands of sampled specs is fast, and plugin components count themselves.
The components come as an argument (the plugin manager, or anything with `get(kind, name)`
and `provider(kind, name)`); `zoo.complexity` is the user's entry that supplies them.
"""

from __future__ import annotations

from typing import Any

from zoo.cost import Cost
from zoo.errors import ComponentContractError
from zoo.spec import ModelSpec


def _step(record: Any, plugins: Any, kind: str, name: str, cost: Cost, *args: Any) -> Cost:
    result = record.complexity(cost, *args)
    if not isinstance(result, Cost):
        raise ComponentContractError(
            f"{kind} {name!r} from plugin {plugins.provider(kind, name)!r}: complexity must return "
            f"a zoo.plugin_kit.Cost, got {type(result).__name__}"
        )
    return result


def spec_complexity(spec: ModelSpec, plugins: Any, input_size: int | None = None) -> dict[str, int]:
    """{'params', 'flops', 'acts'} of `spec` at a square input of `input_size` (default: the spec's),
    with each component's cost function taken from `plugins`."""
    size = input_size or spec.input_size
    options = dict(spec.options)
    stem = plugins.get("stem", spec.stem)
    block = plugins.get("block", spec.block)
    head = plugins.get("head", spec.head)
    cost = _step(stem, plugins, "stem", spec.stem, Cost(size, size), spec.in_channels, spec.stem_width, options)
    width = spec.stem_width
    for stage in spec.stages:
        for i in range(stage.depth):
            stride = stage.stride if i == 0 else 1
            cost = _step(
                block,
                plugins,
                "block",
                spec.block,
                cost,
                width,
                stage.width,
                stride,
                stage.group_width,
                stage.bottleneck_ratio,
                options,
            )
            width = stage.width
    cost = _step(head, plugins, "head", spec.head, cost, width, spec.num_classes, options)
    return cost.totals()
