"""How much the KS tests of several sweeps can say: Holm's correction and the test's power.

Comparing k spaces runs k(k-1)/2 KS tests, and the smallest of three p-values falls below 0.05
by luck far more often than one does; Holm's step-down correction keeps the chance of any false
"different" at alpha. Power answers the other question: how large a gap between two EDFs the
test would find most of the time with this many models, so an unresolved pair reads as "too few
models for a gap this small", not as "the same".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zoo.errors import SweepError
from zoo.sweep.ks import EXACT_LIMIT, _asymptotic_pvalue, _exact_pvalue

POWER_DRAWS = 400
POWER_SEED = 0
POWER_GOAL = 0.8
BISECTION_STEPS = 14  # d to within 2**-14: well below the 0.01 the figure is printed with


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given: the i-th smallest p times (m - i + 1),
    made non-decreasing along the sorted order and capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise SweepError(f"Holm's correction takes p-values in [0, 1]; got {list(pvalues)!r}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def critical_gap(n: int, m: int, alpha: float) -> float:
    """The smallest D at which the two-sample KS test without ties (ks_2samp's exact or asymptotic
    p-value) rejects at level alpha (p < alpha); above 1 when no D can."""
    _check_sizes(n, m, alpha)
    if n * m <= EXACT_LIMIT:
        # D is k / (n m) for an integer k, and p falls as k grows: bisect on k.
        lo, hi = 0, n * m + 1  # p(lo) >= alpha; hi: rejects (n m + 1 stands for "never")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _exact_pvalue(mid / (n * m), n, m) < alpha:
                hi = mid
            else:
                lo = mid
        return hi / (n * m)
    lo_d, hi_d = 0.0, 1.0
    if _asymptotic_pvalue(1.0, n, m) >= alpha:
        return 2.0
    for _ in range(40):
        mid_d = (lo_d + hi_d) / 2
        lo_d, hi_d = (lo_d, mid_d) if _asymptotic_pvalue(mid_d, n, m) < alpha else (mid_d, hi_d)
    return hi_d


def _gaps(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """D of each row pair of x (draws, n) and y (draws, m), continuous samples (no ties)."""
    n, m = x.shape[1], y.shape[1]
    pooled = np.concatenate([x, y], axis=1)
    from_x = np.take_along_axis(
        np.concatenate([np.ones_like(x), np.zeros_like(y)], axis=1), np.argsort(pooled, axis=1), axis=1
    )
    in_x = np.cumsum(from_x, axis=1)
    in_y = np.arange(1, n + m + 1) - in_x
    return np.abs(in_x / n - in_y / m).max(axis=1)


def _uniforms(n: int, m: int, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((draws, n)), rng.random((draws, m))


def ks_power(n: int, m: int, d: float, alpha: float, draws: int = POWER_DRAWS, seed: int = POWER_SEED) -> float:
    """The chance that the KS test at level alpha rejects when the two error distributions' CDFs differ
    by exactly d at most: Monte Carlo over `draws` pairs of samples, U(0, 1) against U(d, 1 + d), seeded."""
    if not 0.0 <= d <= 1.0:
        raise SweepError(f"a gap between two EDFs is in [0, 1]; got d = {d}")
    if draws < 1:
        raise SweepError(f"power needs at least one draw; got draws = {draws}")
    critical = critical_gap(n, m, alpha)
    x, y = _uniforms(n, m, draws, seed)
    return float(np.mean(_gaps(x, y + d) >= critical - 1e-12))


def min_detectable_d(
    n: int, m: int, alpha: float, power: float = POWER_GOAL, draws: int = POWER_DRAWS, seed: int = POWER_SEED
) -> float:
    """The smallest gap d that the KS test at level alpha finds with at least `power` (bisection on d,
    the same seeded draws at every d); 1.0 if even a full gap is found less often."""
    if not 0.0 < power < 1.0:
        raise SweepError(f"power is a probability in (0, 1); got {power}")
    critical = critical_gap(n, m, alpha)
    x, y = _uniforms(n, m, draws, seed)

    def found(d: float) -> bool:
        return float(np.mean(_gaps(x, y + d) >= critical - 1e-12)) >= power

    if not found(1.0):
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if found(mid) else (mid, hi)
    return hi


def _check_sizes(n: int, m: int, alpha: float) -> None:
    if n < 1 or m < 1:
        raise SweepError(f"a KS test needs models in both samples; got n = {n}, m = {m}")
    if not 0.0 < alpha < 1.0:
        raise SweepError(f"alpha is a significance level in (0, 1); got {alpha}")
