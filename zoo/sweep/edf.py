"""Error EDFs, the paper's way to compare design spaces, and the summary table of sweeps.

The error EDF of n models is F(e) = (1/n) * #{i : e_i < e}: the fraction of models whose
error is below e (Radosavovic et al., 2019 and 2020). A space whose EDF lies above
another's everywhere "dominates" it: more of its models are good at every threshold.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from zoo.atomic import atomic_path
from zoo.errors import SweepError
from zoo.sweep.compare import check_comparable, unique_labels
from zoo.sweep.ks import KSResult, ks_2samp
from zoo.sweep.stats import POWER_DRAWS, POWER_GOAL, POWER_SEED, holm, min_detectable_d
from zoo.sweep.table import read_manifest, read_rows, space_name


def edf(errors: Sequence[float], at: float | Sequence[float] | np.ndarray) -> np.ndarray:
    """F(e) = fraction of `errors` strictly below e, for each e in `at`."""
    values = np.sort(np.asarray(errors, dtype=float))
    if values.size == 0:
        raise SweepError("an EDF needs at least one error; the sweep has no finished trials")
    return np.searchsorted(values, np.asarray(at, dtype=float), side="left") / values.size


def edf_steps(errors: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The EDF's corners for a step plot: sorted errors and the fraction at or below each."""
    values = np.sort(np.asarray(errors, dtype=float))
    return values, np.arange(1, values.size + 1) / values.size


def dominance(a: Sequence[float], b: Sequence[float]) -> float:
    """Fraction of error thresholds (the union of both samples) where EDF(a) >= EDF(b)."""
    grid = np.unique(np.concatenate([np.asarray(a, float), np.asarray(b, float)]))
    grid = np.append(grid, grid[-1] + 1e-9)
    return float(np.mean(edf(a, grid) >= edf(b, grid)))


@dataclass(frozen=True)
class SweepSummary:
    """One sweep directory reduced to what the legend and the table show."""

    label: str
    directory: str
    errors: tuple[float, ...]
    flops: tuple[int, ...]
    params: tuple[int, ...]
    seconds: float
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.errors)

    def row(self) -> dict[str, Any]:
        e = np.asarray(self.errors)
        return {
            "space": self.label,
            "n": self.n,
            "min": float(e.min()),
            "p25": float(np.percentile(e, 25)),
            "median": float(np.median(e)),
            "mean": float(e.mean()),
            "max": float(e.max()),
            "mflops": float(np.mean(self.flops) / 1e6),
            "kparams": float(np.mean(self.params) / 1e3),
            "hours": self.seconds / 3600,
        }


def summarize(directory: str | os.PathLike, label: str | None = None) -> SweepSummary:
    rows = read_rows(Path(directory), need=("complexity",))
    if not rows:
        raise SweepError(f"{directory} has no finished trials yet; run or resume `zoo sweep run ... --out {directory}`")
    return SweepSummary(
        label=label or space_name(Path(directory)),
        directory=str(directory),
        manifest=read_manifest(Path(directory)) or {},
        errors=tuple(float(r["error"]) for r in rows),
        flops=tuple(int(r["complexity"]["flops"]) for r in rows),
        params=tuple(int(r["complexity"]["params"]) for r in rows),
        seconds=float(sum(r.get("seconds", 0.0) for r in rows)),
    )


def comparable(summaries: Sequence[SweepSummary], *, mixed: bool = False) -> tuple[list[SweepSummary], list[str]]:
    """The summaries with unique labels, and the keys on which they were run differently (a
    SweepError naming them unless `mixed`: then they are returned for a loud warning)."""
    labels = unique_labels([s.label for s in summaries], [s.directory for s in summaries])
    relabelled = [replace(s, label=label) for s, label in zip(summaries, labels)]
    return relabelled, check_comparable([(s.label, s.manifest) for s in relabelled], mixed=mixed)


def format_table(summaries: Iterable[SweepSummary]) -> str:
    """A fixed-width text table: one line per sweep, errors in percent."""
    header = ("space", "n", "min%", "p25%", "median%", "mean%", "max%", "MFLOPs", "Kparams", "train h")
    lines = []
    for s in summaries:
        r = s.row()
        lines.append(
            (
                r["space"],
                str(r["n"]),
                *(f"{100 * r[k]:.2f}" for k in ("min", "p25", "median", "mean", "max")),
                f"{r['mflops']:.2f}",
                f"{r['kparams']:.0f}",
                f"{r['hours']:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *lines])


def pairwise_ks(summaries: Sequence[SweepSummary]) -> list[tuple[str, str, KSResult]]:
    """The two-sample KS test of every pair of sweeps' errors, in the order given."""
    return [
        (a.label, b.label, ks_2samp(a.errors, b.errors)) for i, a in enumerate(summaries) for b in summaries[i + 1 :]
    ]


@dataclass(frozen=True)
class PairTest:
    """One pair's KS test and its p-value after Holm's correction over all the pairs compared."""

    a: str
    b: str
    ks: KSResult
    holm_p: float

    def to_json(self) -> dict[str, Any]:
        r = self.ks
        return {"a": self.a, "b": self.b, "D": r.statistic, "p": r.pvalue, "holm_p": self.holm_p, "n": r.n,
                "m": r.m, "test": r.method}  # fmt: skip


def pair_tests(summaries: Sequence[SweepSummary]) -> list[PairTest]:
    """`pairwise_ks` with each p-value Holm-adjusted over the pairs."""
    tests = pairwise_ks(summaries)
    adjusted = holm([r.pvalue for _, _, r in tests]) if tests else []
    return [PairTest(a, b, r, p) for (a, b, r), p in zip(tests, adjusted)]


@dataclass(frozen=True)
class Power:
    """The smallest EDF gap the KS test finds `power` of the time between the two smallest sweeps, at
    Holm's first-step level alpha / pairs (continuous errors: no ties)."""

    n: int
    m: int
    pairs: int
    alpha: float
    power: float
    min_gap: float
    draws: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "m": self.m, "pairs": self.pairs, "alpha": self.alpha, "level": self.alpha / self.pairs,
                "power": self.power, "min_detectable_d": self.min_gap, "draws": self.draws, "seed": self.seed}  # fmt: skip

    def line(self) -> str:
        level = f"{self.alpha:g}/{self.pairs} (Holm's first step)" if self.pairs > 1 else f"{self.alpha:g}"
        return (
            f"power: with n = {self.n}, {self.m} a gap D = {self.min_gap:.2f} is found {self.power:.0%} of the time "
            f"at alpha {level}"
        )


def ks_power_of(summaries: Sequence[SweepSummary], alpha: float = 0.05, power: float = POWER_GOAL) -> Power:
    """The power figure of comparing `summaries` pairwise (needs two or more)."""
    if len(summaries) < 2:
        raise SweepError("the power of a comparison needs two or more sweeps")
    n, m = sorted(s.n for s in summaries)[:2]
    pairs = len(summaries) * (len(summaries) - 1) // 2
    gap = min_detectable_d(n, m, alpha / pairs, power, POWER_DRAWS, POWER_SEED)
    return Power(n, m, pairs, alpha, power, gap, POWER_DRAWS, POWER_SEED)


def format_ks(summaries: Sequence[SweepSummary]) -> str:
    """One line per pair: D (the largest EDF gap), its raw and Holm-adjusted p-values, the sample sizes;
    then the power line."""
    lines = ["two-sample Kolmogorov-Smirnov (D: largest gap between the EDFs; p: chance of a gap that large by luck)"]
    for t in pair_tests(summaries):
        r = t.ks
        lines.append(
            f"  {t.a} vs {t.b}: D = {r.statistic:.3f}  p = {r.pvalue:.3g}, Holm p = {t.holm_p:.3g}  "
            f"(n = {r.n}, {r.m}; {r.method})"
        )
    lines.append(ks_power_of(summaries).line())
    return "\n".join(lines)


def check_plot_out(out: str | os.PathLike) -> Path:
    """`out` as a PNG path that can be written, checked before any work; SweepError saying why not."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise SweepError(f"--out {out}: the plot is a PNG image; give a name ending in .png")
    if out.is_dir():
        raise SweepError(f"--out {out} is a folder; give a file name ending in .png (e.g. {out / 'edf.png'})")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SweepError(f"--out {out}: {parent} is a file, so nothing can be written under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SweepError(f"--out {out}: {parent} is not writable; choose another place for the plot")
    return out


def plot_edfs(summaries: Sequence[SweepSummary], out: str | os.PathLike, title: str | None = None) -> Path:
    """Draw each sweep's error EDF on one plot (percent error vs cumulative prob.), saved atomically."""
    out = check_plot_out(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for s in summaries:
        x, y = edf_steps(s.errors)
        x = np.concatenate([[x[0]], x]) * 100
        y = np.concatenate([[0.0], y])
        r = s.row()
        ax.step(
            x, y, where="post", linewidth=2, label=f"{s.label} (n={s.n}) [{100 * r['min']:.1f}|{100 * r['mean']:.1f}]"
        )
    ax.set_xlabel("error (%)")
    ax.set_ylabel("cumulative prob.")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(title="space (n) [min|mean error %]", loc="lower right", fontsize=8, title_fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp)
    except OSError as err:
        raise SweepError(f"--out {out} cannot be written ({err.strerror or err}); choose another place") from None
    finally:
        plt.close(fig)
    return out
