"""zoo-se: the squeeze-and-excitation ResNeXt block (`se_resnext`) and the family it makes, RegNetY.

The SE width is `se_ratio` (option, default 0.25) of the block's input width, as in the
paper's reference implementation. The plugin brings the whole family: the block, the
`regnety_*` models with their pretrained tags (models.toml), and the squeeze-excitation part
of the timm and transformers weight layouts. Registers through the `zoo.plugins` entry point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from zoo import plugin_kit as kit


class SqueezeExcite(nnx.Module):
    """Channel gating: global pool -> 1x1 reduce -> ReLU -> 1x1 expand -> sigmoid -> scale."""

    def __init__(self, channels: int, se_channels: int, *, rngs: nnx.Rngs):
        self.reduce = kit.conv(channels, se_channels, 1, bias=True, rngs=rngs)
        self.expand = kit.conv(se_channels, channels, 1, bias=True, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        s = jnp.mean(x, axis=(1, 2), keepdims=True)
        s = nnx.relu(self.reduce(s))
        return x * nnx.sigmoid(self.expand(s))


def se_width(in_channels: int, options: Mapping[str, Any]) -> int:
    return int(round(in_channels * float(options.get("se_ratio", 0.25))))


def build_se_resnext(in_channels, out_channels, stride, group_width, bottleneck_ratio, options, *, rngs):
    se_channels = se_width(in_channels, options)

    def attention(channels: int, *, rngs: nnx.Rngs) -> SqueezeExcite:
        return SqueezeExcite(channels, se_channels, rngs=rngs)

    return kit.ResNeXtBlock(
        in_channels, out_channels, stride, group_width, bottleneck_ratio, options, rngs=rngs, attention=attention
    )


def se_resnext_cost(cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options):
    se_channels = se_width(in_channels, options)

    def attention_cost(cost: kit.Cost, channels: int) -> kit.Cost:
        h, w = cost.h, cost.w
        cost = cost.global_pool().conv(channels, se_channels, 1, bias=True).conv(se_channels, channels, 1, bias=True)
        return cost.at(h, w)

    return kit.resnext_cost(
        cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options, attention_cost=attention_cost
    )


@kit.hookimpl
def zoo_add_blocks():
    return [
        kit.Block("se_resnext", build_se_resnext, se_resnext_cost, "ResNeXt block with squeeze-excitation (Y block)")
    ]


def map_timm_se(out: dict, rest: dict, theirs: str, ours: str) -> None:
    """timm's `se.fc1` / `se.fc2` 1x1 convs -> our `attention.reduce` / `attention.expand`."""
    if f"{theirs}.se.fc1.weight" in rest:
        kit.put_conv(out, f"{ours}.attention.reduce", rest, f"{theirs}.se.fc1", bias=True)
        kit.put_conv(out, f"{ours}.attention.expand", rest, f"{theirs}.se.fc2", bias=True)


TRANSFORMERS_SE = re.compile(r"\.layer\.(\d+)\.attention\.0\.weight$")


def map_transformers_se(out: dict, rest: dict, theirs: str, ours: str) -> None:
    """transformers' SE layer (`layer.N.attention.0` / `.2`, between conv2 and conv3) -> ours."""
    found = [m[1] for k in rest if k.startswith(f"{theirs}.") and (m := TRANSFORMERS_SE.search(k))]
    for n in found:
        kit.put_conv(out, f"{ours}.attention.reduce", rest, f"{theirs}.layer.{n}.attention.0", bias=True)
        kit.put_conv(out, f"{ours}.attention.expand", rest, f"{theirs}.layer.{n}.attention.2", bias=True)


def transformers_y_block(config: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """transformers' layer_type "y" (its default) is this plugin's block with SE ratio 0.25."""
    return ("se_resnext", {"se_ratio": 0.25}) if config.get("layer_type", "y") == "y" else None


@kit.hookimpl
def zoo_add_layout_parts():
    return [
        kit.LayoutPart("se_resnext_timm", "timm", map_timm_se, description="squeeze-excitation: se.fc1/se.fc2"),
        kit.LayoutPart(
            "se_resnext_transformers",
            "transformers",
            map_transformers_se,
            transformers_y_block,
            "squeeze-excitation: layer.2.attention; layer_type y",
        ),
    ]


@kit.hookimpl
def zoo_add_models():
    return Path(__file__).with_name("models.toml")
