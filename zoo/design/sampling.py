"""Random models of a design space: the RegNet sampler, and rejection sampling to a complexity band.

A design rule's optional `sample(rng)` draws the params of one model of its space; this
module turns such draws into validated ModelSpecs whose analytic complexity lies inside a
band (`--flops 360M:400M`). Draw `i` of a seeded sweep uses its own generator seeded by
(seed, i), so a sample never depends on how many others were drawn before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.complexity import spec_complexity
from zoo.design.regnet import regnet_stages
from zoo.errors import SamplingError, SpecError
from zoo.spec import ModelSpec, StageSpec

# The paper's RegNet space (section 4): d < 64, w0 and wa < 256, 1.5 <= wm <= 3, b and g as in
# AnyNetX; we also keep AnyNetX's 4 stages so the two spaces hold comparable models.
REGNET_RANGES: dict[str, tuple[Any, ...]] = {
    "depth": (1, 63),
    "w0": (8, 256),
    "wa": (8.0, 256.0),
    "wm": (1.5, 3.0),
    "bot_mul": (1.0, 0.5, 0.25),  # the zoo's bottleneck_ratio = 1 / b, b in {1, 2, 4}
    "group_w": (1, 2, 4, 8, 16, 32),
}
REGNET_STAGES = 4
REGNET_Q = 8


def as_generator(rng: np.random.Generator | int | Any, where: str) -> np.random.Generator:
    """A numpy Generator from a Generator or an int seed (SamplingError otherwise)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise SamplingError(f"{where}: rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def sample_regnet(rng: np.random.Generator | int) -> dict[str, Any]:
    """The params of one random RegNet (rule `regnet`): quantized as the registry writes them.

    d uniform in 1..63, w0 a multiple of 8 up to 256, wa and wm log-uniform (2 decimals),
    bot_mul and group_w uniform over the paper's choices; draws that do not give exactly
    4 stages are redrawn, as the paper's models all have 4.
    """
    rng = as_generator(rng, "regnet.sample")
    lo_d, hi_d = REGNET_RANGES["depth"]
    lo_w0, hi_w0 = REGNET_RANGES["w0"]
    while True:
        params: dict[str, Any] = {
            "depth": int(rng.integers(lo_d, hi_d + 1)),
            "w0": int(rng.integers(lo_w0 // REGNET_Q, hi_w0 // REGNET_Q + 1)) * REGNET_Q,
            "wa": round(_log_uniform(rng, *REGNET_RANGES["wa"]), 2),
            "wm": round(_log_uniform(rng, *REGNET_RANGES["wm"]), 2),
            "group_w": int(rng.choice(REGNET_RANGES["group_w"])),
            "bot_mul": float(rng.choice(REGNET_RANGES["bot_mul"])),
        }
        widths, _ = regnet_stages(params["w0"], params["wa"], params["wm"], params["depth"], REGNET_Q)
        if len(widths) == REGNET_STAGES:
            return params


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


# -- complexity bands ---------------------------------------------------------------------
_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGB]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Band:
    """A closed interval [low, high] of a complexity measure (flops or params); None: open."""

    measure: str
    low: float | None = None
    high: float | None = None

    def __contains__(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        return f"{self.measure} {_fmt(self.low)}:{_fmt(self.high)}"

    def to_text(self) -> str:
        return f"{_fmt(self.low)}:{_fmt(self.high)}"


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def parse_band(text: str, measure: str = "flops") -> Band:
    """'360M:400M' (or '2.5e6:3e6', '200K:', ':4M') -> Band; SamplingError says what is wrong."""
    if not isinstance(text, str) or text.count(":") != 1:
        raise SamplingError(
            f"--{measure} {text!r}: expected LOW:HIGH with K/M/G suffixes, e.g. 360M:400M (either side may be empty)"
        )
    bounds: list[float | None] = []
    for side in text.split(":"):
        if not side.strip():
            bounds.append(None)
            continue
        match = _NUMBER.match(side)
        if not match:
            raise SamplingError(f"--{measure} {text!r}: {side!r} is not a number like 400M, 2.5e6 or 120K")
        bounds.append(float(match.group(1)) * _SUFFIX[match.group(2).upper()])
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise SamplingError(f"--{measure} {text!r}: the low end is above the high end; write LOW:HIGH")
    return Band(measure, low, high)


# -- rejection sampling -------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One drawn model: the rule's params, the expanded spec, its complexity, and its draw index."""

    index: int
    params: dict[str, Any]
    spec: ModelSpec
    complexity: dict[str, int]
    tries: int


def spec_from_params(rule: Any, params: Mapping[str, Any], base: ModelSpec) -> ModelSpec:
    """`base` with its stages replaced by what `rule.expand(params)` gives (SpecError if invalid)."""
    stages = rule.expand(dict(params))
    if not isinstance(stages, (list, tuple)) or not stages or not all(isinstance(s, StageSpec) for s in stages):
        raise SpecError(f"design rule {rule.name!r} must expand to a non-empty list of StageSpec")
    return base.replace(stages=tuple(stages))


def require_sampler(rule: Any) -> None:
    """SamplingError unless `rule` can be sampled (a DesignRule with `sample`)."""
    if getattr(rule, "sample", None) is None:
        raise SamplingError(
            f"design rule {rule.name!r} has no sampler: it cannot be swept. Give it `sample(rng)` "
            "(see docs/design-spaces.md) or sweep a rule that has one (regnet, anynetx_a..e)"
        )


def draw_in_band(
    rule: Any,
    base: ModelSpec,
    seed: int,
    index: int,
    bands: tuple[Band, ...] = (),
    max_tries: int = 20000,
    *,
    plugins: Any,
) -> Sample:
    """Draw `index` of a sweep seeded `seed`: rejection-sample `rule` until every band holds.

    The generator is seeded by (seed, index), so the draw is reproducible on its own. `plugins`
    gives the components whose cost functions count each draw (zoo.plugins.manager()).
    """
    require_sampler(rule)
    rng = np.random.default_rng([seed, index])
    invalid = 0
    for tries in range(1, max_tries + 1):
        params = rule.sample(rng)
        try:
            spec = spec_from_params(rule, params, base)
        except SpecError:
            invalid += 1
            continue
        cost = spec_complexity(spec, plugins)
        if all(cost[band.measure] in band for band in bands):
            return Sample(index, _plain(params), spec, cost, tries)
    bands_text = ", ".join(str(b) for b in bands) or "no band"
    extra = f" ({invalid} draws were invalid specs: the sampler breaks its rule)" if invalid else ""
    raise SamplingError(
        f"no model of {rule.name!r} in {bands_text} after {max_tries} draws at input {base.input_size}px, "
        f"stem width {base.stem_width}{extra}; widen the band (see `zoo sweep sample` for the range the "
        "space covers) or change --image-size"
    )


def draw_many(
    rule: Any, base: ModelSpec, seed: int, n: int, bands: tuple[Band, ...] = (), start: int = 0, **kwargs: Any
) -> list[Sample]:
    """Draws start..start+n-1 of a sweep seeded `seed` (each independent of the others)."""
    return [draw_in_band(rule, base, seed, i, bands, **kwargs) for i in range(start, start + n)]


def _plain(value: Any) -> Any:
    """Params as plain JSON-able Python values (numpy scalars and tuples converted)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
