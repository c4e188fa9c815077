"""The RegNet rule: quantized linear widths, as the paper's reference code (pycls) computes them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zoo.errors import SpecError, reject_unknown
from zoo.spec import StageSpec


def quantized_widths(w0: float, wa: float | np.ndarray, wm: float, depth: int, q: int = 8) -> np.ndarray:
    """The rule itself, unchecked and vectorised over `wa` (the sweep's fit searches many at once):
    u_j = w0 + wa*j, snapped to w0 * wm^k and rounded to multiples of q. A scalar `wa` gives
    shape (depth,), an array (len(wa), depth)."""
    continuous = w0 + np.multiply.outer(np.asarray(wa, float), np.arange(depth))
    exponents = np.round(np.log(continuous / w0) / np.log(wm))  # np.round: half to even
    return np.round(w0 * np.power(wm, exponents) / q).astype(int) * q


def regnet_block_widths(w0: int, wa: float, wm: float, depth: int, q: int = 8) -> list[int]:
    """Per-block widths: u_j = w0 + wa*j, snapped to w0 * wm^k and quantized to multiples of q."""
    if not (w0 > 0 and wa >= 0 and wm > 1 and depth >= 1 and q >= 1 and w0 % q == 0):
        raise SpecError(
            f"regnet: need w0 > 0, wa >= 0, wm > 1, depth >= 1 and w0 a multiple of q; "
            f"got w0={w0}, wa={wa}, wm={wm}, depth={depth}, q={q}"
        )
    return quantized_widths(w0, wa, wm, depth, q).tolist()


def regnet_stages(w0: int, wa: float, wm: float, depth: int, q: int = 8) -> tuple[list[int], list[int]]:
    """Stage widths and depths: consecutive blocks of equal width form a stage."""
    widths, depths = np.unique(regnet_block_widths(w0, wa, wm, depth, q), return_counts=True)
    return widths.tolist(), depths.tolist()


def adjust_block_compatibility(widths: list[int], ratios: list[float], group_widths: list[int]):
    """Make each bottleneck width a multiple of its group width (and group width <= it)."""
    inner = [int(max(1, w * b)) for w, b in zip(widths, ratios)]
    group_widths = [int(min(g, v)) for g, v in zip(group_widths, inner)]
    multiples = [math.lcm(g, int(b)) if b > 1 and float(b).is_integer() else g for g, b in zip(group_widths, ratios)]
    inner = [max(m, int(round(v / m) * m)) for v, m in zip(inner, multiples)]
    widths = [int(v / b) for v, b in zip(inner, ratios)]
    return widths, ratios, group_widths


def expand_regnet(params: dict[str, Any]) -> list[StageSpec]:
    """Design rule `regnet`: params w0, wa, wm, depth, group_w, bot_mul=1.0, q=8, stride=2."""
    known = {"w0", "wa", "wm", "depth", "group_w", "bot_mul", "q", "stride"}
    reject_unknown(params, known, "regnet", what="parameter")
    missing = sorted({"w0", "wa", "wm", "depth", "group_w"} - set(params))
    if missing:
        raise SpecError(f"regnet: missing parameter(s) {missing}")
    widths, depths = regnet_stages(params["w0"], params["wa"], params["wm"], params["depth"], params.get("q", 8))
    n = len(widths)
    ratio = float(params.get("bot_mul", 1.0))
    widths, ratios, groups = adjust_block_compatibility(widths, [ratio] * n, [params["group_w"]] * n)
    stride = params.get("stride", 2)
    return [StageSpec(d, w, g, b, stride) for d, w, g, b in zip(depths, widths, groups, ratios)]
