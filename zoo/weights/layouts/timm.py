"""timm's RegNet layout (the timm/regnetx_032.pycls_in1k repos) -> ours.

timm names stages s1..sN and blocks b1..bM, wraps each conv with its BN (`conv1.conv`,
`conv1.bn`), calls the SE convs `se.fc1`/`se.fc2` and the projection `downsample`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from zoo.errors import WeightsFormatError
from zoo.weights.layouts.torch_layout import put_bn, put_conv, put_linear

BLOCK = re.compile(r"^s(\d+)\.b(\d+)\.")


def is_timm_layout(keys: set[str]) -> bool:
    return "stem.conv.weight" in keys and any(BLOCK.match(k) for k in keys)


def timm_to_zoo(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename and transpose every tensor of a timm RegNet state dict into our flat keys."""
    rest = dict(arrays)
    out: dict[str, np.ndarray] = {}
    try:
        put_conv(out, "stem.conv", rest, "stem.conv")
        put_bn(out, "stem.bn", rest, "stem.bn")
        blocks = sorted({(int(m[1]), int(m[2])) for k in arrays if (m := BLOCK.match(k))})
        for s, b in blocks:
            theirs, ours = f"s{s}.b{b}", f"stages.{s - 1}.blocks.{b - 1}"
            for i in (1, 2, 3):
                put_conv(out, f"{ours}.conv{i}", rest, f"{theirs}.conv{i}.conv")
                put_bn(out, f"{ours}.bn{i}", rest, f"{theirs}.conv{i}.bn")
            if f"{theirs}.se.fc1.weight" in rest:
                put_conv(out, f"{ours}.attention.reduce", rest, f"{theirs}.se.fc1", bias=True)
                put_conv(out, f"{ours}.attention.expand", rest, f"{theirs}.se.fc2", bias=True)
            if f"{theirs}.downsample.conv.weight" in rest:
                put_conv(out, f"{ours}.proj_conv", rest, f"{theirs}.downsample.conv")
                put_bn(out, f"{ours}.proj_bn", rest, f"{theirs}.downsample.bn")
        put_linear(out, "head.fc", rest, "head.fc")
    except KeyError as err:
        raise WeightsFormatError(
            f"timm RegNet weights lack tensor {err}; the file is incomplete or not a timm RegNet"
        ) from None
    if rest:
        raise WeightsFormatError(
            f"timm RegNet weights hold tensors this converter does not know: {sorted(rest)[:8]}; "
            "only plain RegNetX/RegNetY checkpoints (no pre-activation or dilation variants) convert"
        )
    return out
