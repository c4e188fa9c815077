"""AnyNetX_A..E (Radosavovic et al., 2020, section 3): each space the previous plus one constraint.

A: 4 stages, d_i <= 16, w_i in {8, 16, ..., 1024}, b_i in {1, 2, 4}, g_i in {1, 2, ..., 32}
   (powers of two: the paper's six choices); B: one b shared by all stages; C: one g shared
   too; D: widths non-decreasing; E: depths non-decreasing too. A stage's bottleneck width
   is w_i / b_i, so b_i is the zoo's 1 / bottleneck_ratio, and w_i / b_i must be a multiple
   of g_i.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import zoo
from zoo.errors import SpecError

PARAMS = ("d", "w", "b", "g")


@dataclass(frozen=True)
class AnyNetXSpace:
    """One AnyNetX space: its ranges, and which constraints of B..E it adds."""

    name: str
    description: str
    shared_b: bool = False
    shared_g: bool = False
    increasing_w: bool = False
    increasing_d: bool = False
    num_stages: int = 4
    max_depth: int = 16
    width_step: int = 8
    max_width: int = 1024
    b_choices: tuple[int, ...] = (1, 2, 4)
    g_choices: tuple[int, ...] = (1, 2, 4, 8, 16, 32)

    # -- the rule ------------------------------------------------------------------
    def expand(self, params: dict[str, Any]) -> list[zoo.StageSpec]:
        """params {"d", "w", "b", "g"}: per-stage lists (a shared b or g may be one int) -> stages."""
        d, w, b, g = self.check(params)
        return [
            zoo.StageSpec(depth=d[i], width=w[i], group_width=g[i], bottleneck_ratio=1 / b[i], stride=2)
            for i in range(self.num_stages)
        ]

    def check(self, params: Mapping[str, Any]) -> tuple[list[int], ...]:
        """The params as four per-stage lists, or SpecError saying which constraint fails."""
        if not isinstance(params, Mapping):
            raise SpecError(f"{self.name}: params must be a table with keys d, w, b, g; got {type(params).__name__}")
        unknown = sorted(set(params) - set(PARAMS))
        missing = [k for k in PARAMS if k not in params]
        if unknown or missing:
            raise SpecError(
                f"{self.name}: params are d, w, b, g (per-stage lists of {self.num_stages}); "
                f"unknown {unknown}, missing {missing}"
            )
        d, w, b, g = (self._per_stage(k, params[k]) for k in PARAMS)
        self._check_range("d", d, range(1, self.max_depth + 1), f"1..{self.max_depth}")
        self._check_range(
            "w",
            w,
            range(self.width_step, self.max_width + 1, self.width_step),
            f"multiples of {self.width_step} up to {self.max_width}",
        )
        self._check_range("b", b, self.b_choices, str(list(self.b_choices)))
        self._check_range("g", g, self.g_choices, str(list(self.g_choices)))
        if self.shared_b and len(set(b)) > 1:
            raise SpecError(f"{self.name}: all stages share one bottleneck ratio b, got b = {b}")
        if self.shared_g and len(set(g)) > 1:
            raise SpecError(f"{self.name}: all stages share one group width g, got g = {g}")
        if self.increasing_w and w != sorted(w):
            raise SpecError(f"{self.name}: widths must be non-decreasing (w_i+1 >= w_i), got w = {w}")
        if self.increasing_d and d != sorted(d):
            raise SpecError(f"{self.name}: depths must be non-decreasing (d_i+1 >= d_i), got d = {d}")
        for i in range(self.num_stages):
            if w[i] % (b[i] * g[i]):
                raise SpecError(
                    f"{self.name}: stage {i + 1} has bottleneck width w/b = {w[i]}/{b[i]} that is not a multiple "
                    f"of its group width g = {g[i]}; choose w a multiple of b*g = {b[i] * g[i]}"
                )
        return d, w, b, g

    def _per_stage(self, key: str, value: Any) -> list[int]:
        shared = (key == "b" and self.shared_b) or (key == "g" and self.shared_g)
        if shared and _is_int(value):
            return [int(value)] * self.num_stages
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != self.num_stages:
            one = " (or one integer, shared by all stages)" if shared else ""
            raise SpecError(f"{self.name}: {key} must be a list of {self.num_stages} integers{one}, got {value!r}")
        if not all(_is_int(v) for v in value):
            raise SpecError(f"{self.name}: {key} must hold integers, got {list(value)!r}")
        return [int(v) for v in value]

    def _check_range(self, key: str, values: list[int], allowed: Sequence[int], said: str) -> None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise SpecError(f"{self.name}: {key} = {values} has value(s) {bad} outside the space; allowed: {said}")

    # -- the sampler -----------------------------------------------------------------
    def sample(self, rng: np.random.Generator | int) -> dict[str, list[int]]:
        """The params of one random model of this space: {"d", "w", "b", "g"}, four ints each.

        `rng` is a numpy Generator (advanced by the draw) or an int seed; the same seed or
        generator state always gives the same params. Shared b and g, and non-decreasing
        depths and widths, are drawn directly (uniformly), so every draw is valid: no rejection.
        """
        rng = np.random.default_rng(rng) if _is_int(rng) else rng
        if not isinstance(rng, np.random.Generator):
            raise SpecError(f"{self.name}.sample: rng must be a numpy.random.Generator or an int seed, got {rng!r}")
        n = self.num_stages
        b = self._draw(rng, self.b_choices, shared=self.shared_b)
        g = self._draw(rng, self.g_choices, shared=self.shared_g)
        if self.increasing_w:  # D and E share b and g, so every stage allows the same widths
            w = _non_decreasing(rng, self._widths(b[0] * g[0]), n)
        else:
            w = [int(rng.choice(self._widths(b[i] * g[i]))) for i in range(n)]
        depths = list(range(1, self.max_depth + 1))
        d = _non_decreasing(rng, depths, n) if self.increasing_d else [int(v) for v in rng.choice(depths, n)]
        return {"d": d, "w": w, "b": b, "g": g}

    def _draw(self, rng: np.random.Generator, choices: tuple[int, ...], *, shared: bool) -> list[int]:
        if shared:
            return [int(rng.choice(choices))] * self.num_stages
        return [int(v) for v in rng.choice(choices, self.num_stages)]

    def _widths(self, multiple_of: int) -> list[int]:
        step = math.lcm(self.width_step, multiple_of)
        return list(range(step, self.max_width + 1, step))


def _non_decreasing(rng: np.random.Generator, choices: Sequence[int], n: int) -> list[int]:
    """A uniformly random non-decreasing sequence of n values from sorted `choices` (stars and bars)."""
    slots = np.sort(rng.choice(len(choices) + n - 1, size=n, replace=False))
    return [int(choices[i]) for i in slots - np.arange(n)]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


_SPACES = [
    AnyNetXSpace("anynetx_a", "AnyNetX_A: 4 free stages (d<=16, w<=1024 by 8, b in 1,2,4, g in 1..32)"),
    AnyNetXSpace("anynetx_b", "AnyNetX_B: AnyNetX_A with one bottleneck ratio b shared by all stages", shared_b=True),
    AnyNetXSpace("anynetx_c", "AnyNetX_C: AnyNetX_B with one group width g shared too", shared_b=True, shared_g=True),
    AnyNetXSpace(
        "anynetx_d", "AnyNetX_D: AnyNetX_C with non-decreasing widths", shared_b=True, shared_g=True, increasing_w=True
    ),
    AnyNetXSpace(
        "anynetx_e",
        "AnyNetX_E: AnyNetX_D with non-decreasing depths",
        shared_b=True,
        shared_g=True,
        increasing_w=True,
        increasing_d=True,
    ),
]

SPACES: dict[str, AnyNetXSpace] = {space.name: space for space in _SPACES}
