"""The two-sample Kolmogorov-Smirnov test: do two sweeps' errors come from one distribution?

The statistic is the largest vertical gap between the two error EDFs, D = max_e |F_a(e) - F_b(e)|,
which is exactly how the paper compares design spaces by eye. Without ties the p-value is
exact (lattice paths counted with integers, as in Hodges 1958) while n * m is small enough to
count, and the asymptotic Kolmogorov distribution with Stephens' small-sample correction
beyond that. Both assume continuous data; test errors are counts over a fixed test set and
tie often, which makes those p-values too large (conservative). With ties the p-value is a
permutation test that keeps them: the pooled errors are relabelled at random (seeded, so the
same data gives the same p) and D recomputed at each distinct value. Every result says which
test it ran.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zoo.errors import SweepError

# Largest n * m whose exact p-value is counted (about a second of integer additions).
EXACT_LIMIT = 400_000
# Relabellings of the permutation test: p's standard error is at most 0.005 at 10,000.
PERMUTATIONS = 10_000
PERMUTATION_SEED = 0


@dataclass(frozen=True)
class KSResult:
    """D (the largest EDF gap), its two-sided p-value, the sample sizes, and how p was computed."""

    statistic: float
    pvalue: float
    n: int
    m: int
    method: str


def ks_statistic(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """max over all e of |F_a(e) - F_b(e)|, the EDFs evaluated on the pooled sample."""
    x, y = _sample(a, "first"), _sample(b, "second")
    grid = np.concatenate([x, y])
    fa = np.searchsorted(x, grid, side="right") / x.size
    fb = np.searchsorted(y, grid, side="right") / y.size
    return float(np.max(np.abs(fa - fb)))


def ks_2samp(a: Sequence[float], b: Sequence[float]) -> KSResult:
    """Two-sided two-sample KS test of `a` against `b`."""
    x, y = _sample(a, "first"), _sample(b, "second")
    d = ks_statistic(x, y)
    n, m = x.size, y.size
    if np.unique(np.concatenate([x, y])).size < n + m:
        p = permutation_pvalue(x, y, d, PERMUTATIONS, PERMUTATION_SEED)
        return KSResult(d, p, n, m, f"permutation, ties kept, {PERMUTATIONS} draws, seed {PERMUTATION_SEED}")
    if n * m <= EXACT_LIMIT:
        return KSResult(d, _exact_pvalue(d, n, m), n, m, "exact")
    return KSResult(d, _asymptotic_pvalue(d, n, m), n, m, "asymptotic")


def permutation_pvalue(x: np.ndarray, y: np.ndarray, d: float, draws: int, seed: int) -> float:
    """P(D >= d) when the pooled values are split into samples of len(x) and len(y) at random.

    D is evaluated only at the last of each run of equal values, so tied values never count as a
    gap; (hits + 1) / (draws + 1) keeps p above zero, as a p-value from draws must be.
    """
    n, m = x.size, y.size
    pooled = np.sort(np.concatenate([x, y]))
    ends = np.flatnonzero(np.append(pooled[1:] != pooled[:-1], True))  # last index of each distinct value
    rng = np.random.default_rng(seed)
    labels = np.zeros(n + m, bool)
    labels[:n] = True
    hits, chunk = 0, max(1, 2_000_000 // (n + m))
    for start in range(0, draws, chunk):
        rows = min(chunk, draws - start)
        perm = rng.permuted(np.broadcast_to(labels, (rows, n + m)), axis=1)
        in_x = np.cumsum(perm, axis=1)[:, ends]
        gaps = np.abs(in_x / n - (ends + 1 - in_x) / m).max(axis=1)
        hits += int(np.count_nonzero(gaps >= d - 1e-12))
    return (hits + 1) / (draws + 1)


def _sample(values: Sequence[float] | np.ndarray, which: str) -> np.ndarray:
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        raise SweepError(f"a KS test needs errors in both samples; the {which} is empty")
    if not np.all(np.isfinite(x)):
        raise SweepError(f"the {which} sample holds NaN or infinite errors; a KS test needs numbers")
    return x


def _exact_pvalue(d: float, n: int, m: int) -> float:
    """P(D >= d) under the null: 1 - (lattice paths from (0,0) to (n,m) that stay strictly inside
    |i/n - j/m| < d) / C(n+m, n). Integers throughout, so the count is exact."""
    bound = round(d * n * m)  # d is (i*m - j*n) / (n*m) for some i, j: an integer over n*m
    row = [0] * (m + 1)
    for i in range(n + 1):
        for j in range(m + 1):
            if abs(i * m - j * n) >= bound:
                row[j] = 0
            elif i == 0 and j == 0:
                row[j] = 1
            else:
                row[j] = (row[j] if i > 0 else 0) + (row[j - 1] if j > 0 else 0)
    inside = row[m]
    return float(max(0.0, min(1.0, 1.0 - inside / math.comb(n + m, n))))


def _asymptotic_pvalue(d: float, n: int, m: int) -> float:
    """Kolmogorov's limiting distribution at (sqrt(N) + 0.12 + 0.11 / sqrt(N)) * d, N = nm/(n+m)."""
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 1e-3:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101))
    return float(max(0.0, min(1.0, 2.0 * total)))
