"""transformers' RegNet layout (the facebook/regnet-x-032 repos) -> ours, spec included.

transformers keeps the architecture in config.json (hidden_sizes, depths, groups_width,
layer_type) and names layers `regnet.encoder.stages.S.layers.B.layer.N`; a Y layer puts its
SE at `layer.2` and its last conv at `layer.3`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.errors import SpecError, WeightsFormatError
from zoo.spec import ModelSpec, StageSpec
from zoo.weights.layouts.torch_layout import put_bn, put_conv, put_linear

BLOCK = re.compile(r"^(?:regnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.")


def is_transformers_config(config: Mapping[str, Any]) -> bool:
    return config.get("model_type") == "regnet"


def is_transformers_layout(keys: set[str]) -> bool:
    return any(k.startswith(("regnet.embedder.", "embedder.embedder.")) for k in keys)


def spec_from_transformers_config(config: Mapping[str, Any], where: str = "config.json") -> ModelSpec:
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
        y_block = config.get("layer_type", "y") == "y"
        stages = [
            StageSpec(
                depth=d, width=w, group_width=min(group, w), bottleneck_ratio=1.0, stride=first_stride if i == 0 else 2
            )
            for i, (d, w) in enumerate(zip(depths, widths, strict=True))
        ]
        return ModelSpec(
            stages=tuple(stages),
            stem_width=int(config.get("embedding_size", 32)),
            block="se_resnext" if y_block else "resnext",
            num_classes=num_classes,
            in_channels=int(config.get("num_channels", 3)),
            input_size=224,
            options={"se_ratio": 0.25} if y_block else {},
        )
    except (KeyError, TypeError, ValueError, SpecError) as err:
        raise WeightsFormatError(
            f"{where} is not a usable transformers RegNet config: {type(err).__name__}: {err}"
        ) from None


def labels_from_transformers_config(config: Mapping[str, Any]) -> tuple[str, ...] | None:
    labels = config.get("id2label")
    if not isinstance(labels, Mapping) or not labels:
        return None
    try:
        return tuple(str(labels[k]) for k in sorted(labels, key=int))
    except ValueError:
        return None


def transformers_to_zoo(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename and transpose every tensor of a transformers RegNet state dict into our flat keys."""
    rest = {k.removeprefix("regnet."): v for k, v in arrays.items()}
    out: dict[str, np.ndarray] = {}
    try:
        put_conv(out, "stem.conv", rest, "embedder.embedder.convolution")
        put_bn(out, "stem.bn", rest, "embedder.embedder.normalization")
        blocks = sorted({(int(m[1]), int(m[2])) for k in arrays if (m := BLOCK.match(k))})
        for s, b in blocks:
            theirs, ours = f"encoder.stages.{s}.layers.{b}", f"stages.{s}.blocks.{b}"
            has_se = f"{theirs}.layer.3.convolution.weight" in rest
            for i, n in ((1, 0), (2, 1), (3, 3 if has_se else 2)):
                put_conv(out, f"{ours}.conv{i}", rest, f"{theirs}.layer.{n}.convolution")
                put_bn(out, f"{ours}.bn{i}", rest, f"{theirs}.layer.{n}.normalization")
            if has_se:
                put_conv(out, f"{ours}.attention.reduce", rest, f"{theirs}.layer.2.attention.0", bias=True)
                put_conv(out, f"{ours}.attention.expand", rest, f"{theirs}.layer.2.attention.2", bias=True)
            if f"{theirs}.shortcut.convolution.weight" in rest:
                put_conv(out, f"{ours}.proj_conv", rest, f"{theirs}.shortcut.convolution")
                put_bn(out, f"{ours}.proj_bn", rest, f"{theirs}.shortcut.normalization")
        put_linear(out, "head.fc", rest, "classifier.1")
    except KeyError as err:
        raise WeightsFormatError(
            f"transformers RegNet weights lack tensor {err}; the file is incomplete, or it is a RegNetModel "
            "without a classification head (use a RegNetForImageClassification checkpoint)"
        ) from None
    if rest:
        raise WeightsFormatError(
            f"transformers RegNet weights hold tensors this converter does not know: {sorted(rest)[:8]}"
        )
    return out
