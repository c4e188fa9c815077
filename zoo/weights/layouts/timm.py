"""timm's RegNet layout (the timm/regnetx_032.pycls_in1k repos) -> ours.

timm names stages s1..sN and blocks b1..bM, wraps each conv with its BN (`conv1.conv`,
`conv1.bn`) and calls the projection `downsample`. Tensors a block variant adds (timm's `se.*`)
are mapped by the layout parts plugins register for "timm". A timm config.json names an
architecture; its spec comes from the registry by that name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.errors import WeightsFormatError
from zoo.plugins.layout_records import LayoutContext
from zoo.spec import ModelSpec
from zoo.weights.layouts.torch_layout import TorchRegNet, regnet_to_zoo

NAME = "timm"
BLOCK = re.compile(r"^s(\d+)\.b(\d+)\.")


def recognises_config(config: Mapping[str, Any]) -> bool:
    return "architecture" in config and ("pretrained_cfg" in config or "num_features" in config)


def recognises_keys(keys: set[str]) -> bool:
    return "stem.conv.weight" in keys and any(BLOCK.match(k) for k in keys)


def spec_from_config(config: Mapping[str, Any], where: str, context: LayoutContext) -> ModelSpec:
    """The registry's spec for the config's architecture, with its num_classes."""
    if context.spec_for_name is None:
        raise WeightsFormatError(f"{where}: a timm config names its model; load it through zoo.load")
    spec = context.spec_for_name(str(config["architecture"]).split(".")[0])
    num_classes = config.get("num_classes")
    if isinstance(num_classes, int) and num_classes > 0 and num_classes != spec.num_classes:
        spec = spec.replace(num_classes=num_classes)
    return spec


TIMM = TorchRegNet(
    library="timm",
    stem=("stem.conv", "stem.bn"),
    head="head.fc",
    block=BLOCK,
    names=lambda s, b: (f"s{s}.b{b}", f"stages.{s - 1}.blocks.{b - 1}"),
    convs=lambda theirs, rest: [(f"{theirs}.conv{i}.conv", f"{theirs}.conv{i}.bn") for i in (1, 2, 3)],
    proj=("downsample.conv", "downsample.bn"),
    missing_hint="the file is incomplete or not a timm RegNet",
    unknown_hint=(
        "only plain RegNet checkpoints (no pre-activation or dilation variants) convert, and a block variant's "
        "tensors need the plugin that brings the block (`zoo plugins` lists what is loaded)"
    ),
)


def timm_to_zoo(arrays: Mapping[str, np.ndarray], context: LayoutContext) -> dict[str, np.ndarray]:
    """Rename and transpose every tensor of a timm RegNet state dict into our flat keys."""
    return regnet_to_zoo(dict(arrays), TIMM, context)
