"""transformers' RegNet layout (the facebook/regnet-x-032 repos) -> ours, spec included.

transformers keeps the architecture in config.json (hidden_sizes, depths, groups_width,
layer_type) and names layers `regnet.encoder.stages.S.layers.B.layer.N`: the block's three
convolutions are the layers that hold a `convolution`, in order; layers between them belong to
a block variant (layer_type other than "x"), mapped by the layout parts plugins register for
"transformers", which also say which block and options that layer_type means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.errors import SpecError, WeightsFormatError
from zoo.plugins.layout_records import LayoutContext
from zoo.spec import ModelSpec, Options, StageSpec
from zoo.weights.layouts.torch_layout import TorchRegNet, regnet_to_zoo

NAME = "transformers"
BLOCK = re.compile(r"^(?:regnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.")
CONV_LAYER = re.compile(r"\.layer\.(\d+)\.convolution\.weight$")


def recognises_config(config: Mapping[str, Any]) -> bool:
    return config.get("model_type") == "regnet"


def recognises_keys(keys: set[str]) -> bool:
    return any(k.startswith(("regnet.embedder.", "embedder.embedder.")) for k in keys)


def _block_and_options(config: Mapping[str, Any], where: str, context: LayoutContext) -> tuple[str, dict]:
    layer_type = config.get("layer_type", "y")
    if layer_type == "x":
        return "resnext", {}
    for part in context.parts:
        if part.block_from_config is not None and (found := part.block_from_config(config)) is not None:
            block, options = found
            return block, dict(options)
    raise WeightsFormatError(
        f"{where}: layer_type {layer_type!r} needs a block no loaded plugin maps for transformers "
        "(only 'x' is built in); install the plugin that brings it (`zoo plugins` lists what is loaded)"
    )


def spec_from_config(config: Mapping[str, Any], where: str, context: LayoutContext) -> ModelSpec:
    """The ModelSpec a transformers RegNetConfig describes."""
    try:
        widths = [int(w) for w in config["hidden_sizes"]]
        depths = [int(d) for d in config["depths"]]
        group = int(config.get("groups_width", 64))
        if config.get("hidden_act", "relu") != "relu":
            raise WeightsFormatError(f"{where}: hidden_act {config['hidden_act']!r} is not supported (only relu)")
        first_stride = 2 if config.get("downsample_in_first_stage", True) else 1
        labels = config.get("id2label") or {}
        num_classes = len(labels) if labels else int(config.get("num_labels", 1000))
        block, options = _block_and_options(config, where, context)
        stages = [
            StageSpec(
                depth=d, width=w, group_width=min(group, w), bottleneck_ratio=1.0, stride=first_stride if i == 0 else 2
            )
            for i, (d, w) in enumerate(zip(depths, widths, strict=True))
        ]
        return ModelSpec(
            stages=tuple(stages),
            stem_width=int(config.get("embedding_size", 32)),
            block=block,
            num_classes=num_classes,
            in_channels=int(config.get("num_channels", 3)),
            input_size=224,
            options=Options(options),
        )
    except (KeyError, TypeError, ValueError, SpecError) as err:
        raise WeightsFormatError(
            f"{where} is not a usable transformers RegNet config: {type(err).__name__}: {err}"
        ) from None


def _convs(theirs: str, rest: Mapping[str, np.ndarray]) -> list[tuple[str, str]]:
    """The block's three convolution layers, in order; the layers between them are a variant's."""
    convs = sorted(int(m[1]) for k in rest if k.startswith(f"{theirs}.") and (m := CONV_LAYER.search(k)))
    if len(convs) != 3:
        raise WeightsFormatError(f"transformers block {theirs} has {len(convs)} convolution layers, not 3")
    return [(f"{theirs}.layer.{n}.convolution", f"{theirs}.layer.{n}.normalization") for n in convs]


TRANSFORMERS = TorchRegNet(
    library="transformers",
    stem=("embedder.embedder.convolution", "embedder.embedder.normalization"),
    head="classifier.1",
    block=BLOCK,
    names=lambda s, b: (f"encoder.stages.{s}.layers.{b}", f"stages.{s}.blocks.{b}"),
    convs=_convs,
    proj=("shortcut.convolution", "shortcut.normalization"),
    missing_hint=(
        "the file is incomplete, or it is a RegNetModel without a classification head (use a "
        "RegNetForImageClassification checkpoint)"
    ),
    unknown_hint="a block variant's tensors need the plugin that brings the block (`zoo plugins` lists what is loaded)",
)


def transformers_to_zoo(arrays: Mapping[str, np.ndarray], context: LayoutContext) -> dict[str, np.ndarray]:
    """Rename and transpose every tensor of a transformers RegNet state dict into our flat keys."""
    return regnet_to_zoo({k.removeprefix("regnet."): v for k, v in arrays.items()}, TRANSFORMERS, context)
