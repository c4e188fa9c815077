"""Fit the RegNet rule to the best models of a sweep, as the paper does (section 4).

Each model is reduced to its per-block widths w_j (stage widths repeated depth times).
The quantized linear rule with (w0, wa, wm) and the model's own depth d predicts widths
p_j; the fit error is the paper's e_fit = mean_j (log w_j - log p_j)^2. A grid search finds
the (w0, wa, wm) with the smallest mean e_fit over the best models; d is their median depth,
and group width and bottleneck ratio the most common over their stages: the RegNet that the
best models of any space are closest to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median, mode
from typing import Any

import numpy as np

from zoo.design.regnet import quantized_widths
from zoo.errors import SweepError
from zoo.spec import ModelSpec

WA_STEP, WM_STEP = 0.25, 0.01
WM_RANGE = (1.5, 3.0)


def block_widths(spec: ModelSpec) -> list[int]:
    """Per-block widths of a spec: each stage's width repeated `depth` times."""
    return [s.width for s in spec.stages for _ in range(s.depth)]


@dataclass(frozen=True)
class RegNetFit:
    """The fitted rule and how well it matches: e_fit averaged over the fitted models."""

    w0: int
    wa: float
    wm: float
    depth: int
    group_w: int
    bot_mul: float
    e_fit: float
    models: int

    def design(self) -> dict[str, Any]:
        return {
            "rule": "regnet",
            "w0": self.w0,
            "wa": self.wa,
            "wm": self.wm,
            "depth": self.depth,
            "group_w": self.group_w,
            "bot_mul": self.bot_mul,
        }

    def toml(self) -> str:
        """The registry.toml line: `design = { rule = "regnet", ... }`."""
        items = ", ".join(f"{k} = {_toml_value(v)}" for k, v in self.design().items())
        return f"design = {{ {items} }}"


def _toml_value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def fit_regnet(specs: Sequence[ModelSpec], q: int = 8, wa_max: float = 256.0) -> RegNetFit:
    """The (w0, wa, wm) minimizing mean e_fit over `specs`, each at its own depth (grid search)."""
    if not specs:
        raise SweepError("fitting the RegNet rule needs at least one model")
    profiles = [np.asarray(block_widths(s), float) for s in specs]
    first = sorted({max(q, int(round(p[0] / q)) * q) for p in profiles})
    w0_grid = sorted({w for f in first for w in range(max(q, f - 2 * q), f + 3 * q, q)})
    wa_grid = np.arange(WA_STEP, wa_max + WA_STEP / 2, WA_STEP)  # the paper's wa > 0: widths grow
    wm_grid = np.round(np.arange(WM_RANGE[0], WM_RANGE[1] + WM_STEP / 2, WM_STEP), 2)
    best = (np.inf, 0, 0.0, 0.0)
    logs = [np.log(p) for p in profiles]
    for w0 in w0_grid:
        for wm in wm_grid:
            total = np.zeros(wa_grid.size)
            for log_w, p in zip(logs, profiles):
                pred = quantized_widths(w0, wa_grid, wm, p.size, q)
                total += np.mean((log_w[None, :] - np.log(pred)) ** 2, axis=1)
            i = int(np.argmin(total))  # the smallest wa among ties: the simplest rule
            if total[i] < best[0] - 1e-12:
                best = (float(total[i]), w0, float(wa_grid[i]), float(wm))
    error, w0, wa, wm = best
    groups = [stage.group_width for s in specs for stage in s.stages]
    ratios = [stage.bottleneck_ratio for s in specs for stage in s.stages]
    return RegNetFit(
        w0=int(w0),
        wa=round(wa, 2),
        wm=round(wm, 2),
        depth=int(round(median(p.size for p in profiles))),
        group_w=int(mode(groups)),
        bot_mul=float(mode(ratios)),
        e_fit=error / len(specs),
        models=len(specs),
    )


def best_rows(rows: Sequence[Mapping[str, Any]], top: int) -> list[Mapping[str, Any]]:
    """The `top` rows of lowest error (ties broken by trial index, so the choice is reproducible)."""
    if top < 1:
        raise SweepError(f"--top {top}: fit at least one model")
    return sorted(rows, key=lambda r: (r["error"], r["trial"]))[:top]


def fit_rows(rows: Sequence[Mapping[str, Any]], top: int) -> tuple[RegNetFit, list[Mapping[str, Any]]]:
    chosen = best_rows(rows, top)
    specs = [ModelSpec.from_dict(r["spec"], where=f"trial {r['trial']}") for r in chosen]
    return fit_regnet(specs), chosen
