"""`python -m zoo.sweep.report DIR [DIR ...]`: a comparison of sweeps as a markdown block that docs embed.

A doc that quotes numbers drifts from its data; this module writes the numbers, and the doc holds
its output between `<!-- report: NAME -->` and `<!-- /report: NAME -->`, so `--check DOC --name
NAME` (exit 1, naming the first differing line) proves the doc still says what the data gives and
`--write DOC --name NAME` replaces the block in place, atomically. The block holds, per space: n,
error quantiles and mean / std in points, the share of models below 20, 10 and 5% error, median
seconds per trial and per part (the rows' `timings`); per pair the KS test (D, which test ran, raw
and Holm-adjusted p); the power line; and, with `--seed-noise FILE`, the noise of training itself.

The seed-noise file is JSON (an object) with these keys:

- `errors`: a list, one entry per model, of that model's test errors in percent, one per training
  seed (at least two models, each with at least two seeds). The within-model sd is the pooled
  population sd of each model's errors around its own mean; the between-model sd the population
  sd of the models' mean errors; the ratio is between / within.
- `bitwise_rerun_equal`: true or false: whether rerunning one model with one seed gave the same
  error bit for bit.
- `rerun_correlation` (optional): the correlation, over models, of a rerun's errors (same model,
  same seed, another machine) with the recorded ones.
- `source` (optional): a sentence saying where the numbers come from.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.atomic import atomic_write_text
from zoo.errors import SweepError
from zoo.sweep.edf import SweepSummary, comparable, ks_power_of, pair_tests, summarize
from zoo.sweep.table import read_rows

QUANTILES = (("min", 0), ("p10", 10), ("p25", 25), ("median", 50), ("p75", 75), ("p90", 90), ("max", 100))
THRESHOLDS = (20, 10, 5)  # percent error
PARTS = ("build", "compile", "train", "eval")


@dataclass(frozen=True)
class SeedNoise:
    """Training noise against model spread, as read from a seed-noise file (see the module docstring)."""

    within_sd: float
    between_sd: float
    bitwise_rerun_equal: bool
    rerun_correlation: float | None
    source: str | None
    models: int
    seeds: int

    @property
    def ratio(self) -> float:
        return self.between_sd / self.within_sd if self.within_sd > 0 else float("inf")


def read_seed_noise(path: str | os.PathLike) -> SeedNoise:
    """The seed-noise file at `path`, checked field by field (SweepError naming the file and field)."""
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SweepError(f"--seed-noise {where} cannot be read as JSON ({err}); see zoo/sweep/report.py") from None
    if not isinstance(data, dict):
        raise SweepError(f"{where}: a seed-noise file is a JSON object; see the schema in zoo/sweep/report.py")
    errors = data.get("errors")
    if (
        not isinstance(errors, list)
        or len(errors) < 2
        or not all(isinstance(e, list) and len(e) >= 2 for e in errors)
        or not all(_is_number(v) for e in errors for v in e)
    ):
        raise SweepError(
            f"{where}: `errors` must list at least two models, each a list of two or more test errors in percent"
        )
    if not isinstance(data.get("bitwise_rerun_equal"), bool):
        raise SweepError(f"{where}: `bitwise_rerun_equal` must be true or false")
    corr = data.get("rerun_correlation")
    if corr is not None and not (_is_number(corr) and -1 <= corr <= 1):
        raise SweepError(f"{where}: `rerun_correlation` {corr!r} is not a correlation in [-1, 1]")
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise SweepError(f"{where}: `source` must be a sentence (a string)")
    per_model = [np.asarray(e, dtype=float) for e in errors]
    within = float(np.sqrt(np.mean(np.concatenate([e - e.mean() for e in per_model]) ** 2)))
    between = float(np.std([e.mean() for e in per_model]))
    return SeedNoise(within, between, data["bitwise_rerun_equal"], corr, source, len(per_model),
                     min(e.size for e in per_model))  # fmt: skip


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and np.isfinite(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> list[str]:
    """A markdown table: the first `text_columns` columns left-aligned, numbers right-aligned."""
    align = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    return ["| " + " | ".join(cells) + " |" for cells in [header, align, *rows]]


def _quantile_rows(summaries: Sequence[SweepSummary]) -> list[list[str]]:
    rows = []
    for s in summaries:
        e = 100 * np.asarray(s.errors)
        cells = [f"{np.percentile(e, q):.2f}" for _, q in QUANTILES]
        rows.append([s.label, str(s.n), *cells, f"{e.mean():.2f}", f"{e.std():.2f}"])
    return rows


def _threshold_rows(summaries: Sequence[SweepSummary]) -> list[list[str]]:
    rows = []
    for s in summaries:
        e = 100 * np.asarray(s.errors)
        rows.append([s.label, *(f"{int(np.sum(e < t))} ({np.mean(e < t):.0%})" for t in THRESHOLDS)])
    return rows


def _median(values: Sequence[float]) -> str:
    return f"{np.median(values):.1f}" if values else "-"


def _timing_rows(summaries: Sequence[SweepSummary]) -> list[list[str]]:
    rows = []
    for s in summaries:
        trials = read_rows(s.directory)
        seconds = [float(r["seconds"]) for r in trials if "seconds" in r]
        parts = [[float(r["timings"][p]) for r in trials if p in r.get("timings", {})] for p in PARTS]
        rows.append([s.label, _median(seconds), *(_median(v) for v in parts)])
    return rows


def _seed_noise_lines(noise: SeedNoise, summaries: Sequence[SweepSummary] = ()) -> list[str]:
    lines = [
        f"Seed noise ({noise.models} models, {noise.seeds}+ training seeds each):",
        "",
        f"- within-model sd: {noise.within_sd:.2f} points (one model, other seeds)",
        f"- between-model sd: {noise.between_sd:.2f} points (the models' mean errors)",
        f"- ratio between / within: {noise.ratio:.2f}",
    ]
    if summaries and noise.within_sd > 0:  # each whole population's spread, in units of seed noise
        spreads = ", ".join(f"{s.label} {100 * np.std(s.errors) / noise.within_sd:.2f}" for s in summaries)
        lines.append(f"- each space's std / within-model sd: {spreads}")
    lines.append(f"- bitwise rerun equal (same model and seed): {'yes' if noise.bitwise_rerun_equal else 'no'}")
    if noise.rerun_correlation is not None:
        lines.insert(-1, f"- rerun correlation (same model and seed, another machine): {noise.rerun_correlation:.2f}")
    if noise.source:
        lines += ["", f"Source: {noise.source}"]
    return lines


def render(summaries: Sequence[SweepSummary], name: str, seed_noise: SeedNoise | None = None) -> str:
    """The markdown block, markers included, for `summaries` (already checked comparable)."""
    lines = [open_marker(name), ""]
    lines += ["Test error in percent over each space's models (std: population standard deviation, in points):", ""]
    header = ["space", "n", *(k for k, _ in QUANTILES), "mean", "std"]
    lines += _table(header, _quantile_rows(summaries)) + [""]
    lines += ["Models below each error threshold:", ""]
    lines += _table(["space", *(f"below {t}%" for t in THRESHOLDS)], _threshold_rows(summaries)) + [""]
    lines += ["Median seconds per trial and per part:", ""]
    lines += _table(["space", "trial", *PARTS], _timing_rows(summaries)) + [""]
    if len(summaries) > 1:
        tests = pair_tests(summaries)
        lines += [
            f"Two-sample KS test per pair (D: largest gap between the EDFs; Holm p: corrected for the "
            f"{len(tests)} pair{'s' if len(tests) > 1 else ''}):",
            "",
        ]
        rows = [[f"{t.a} vs {t.b}", t.ks.method, f"{t.ks.statistic:.3f}", f"{t.ks.pvalue:.3g}", f"{t.holm_p:.3g}"]
                for t in tests]  # fmt: skip
        lines += _table(["pair", "test", "D", "p", "Holm p"], rows, text_columns=2) + [""]
        lines += [ks_power_of(summaries).line(), ""]
    if seed_noise is not None:
        lines += _seed_noise_lines(seed_noise, summaries) + [""]
    lines.append(close_marker(name))
    return "\n".join(lines) + "\n"


def open_marker(name: str) -> str:
    return f"<!-- report: {name} -->"


def close_marker(name: str) -> str:
    return f"<!-- /report: {name} -->"


def find_block(text: str, name: str, where: str) -> tuple[int, int]:
    """Line indices [start, end] of the block `name` in `text` (markers included); SweepError if the doc
    lacks it or holds it twice."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == open_marker(name)]
    ends = [i for i, line in enumerate(lines) if line.strip() == close_marker(name)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise SweepError(
            f"{where} must hold the block `{name}` exactly once, from a line `{open_marker(name)}` to a line "
            f"`{close_marker(name)}`; add those two lines where the report belongs, then run with --write"
        )
    return starts[0], ends[0]


def first_difference(doc: str, block: str, name: str, where: str) -> str | None:
    """None if the doc's block `name` is `block`; else a message naming the first line that differs."""
    start, end = find_block(doc, name, where)
    have = doc.splitlines()[start : end + 1]
    want = block.splitlines()
    for i in range(max(len(have), len(want))):
        old = have[i] if i < len(have) else "<end of block>"
        new = want[i] if i < len(want) else "<end of block>"
        if old != new:
            return (
                f"{where}:{start + i + 1}: the block `{name}` differs from what the data gives:\n"
                f"  doc:  {old}\n  data: {new}\n"
                f"Regenerate it with `python -m zoo.sweep.report DIR ... --write {where} --name {name}`"
            )
    return None


def write_block(path: str | os.PathLike, block: str, name: str) -> bool:
    """Replace the block `name` in the doc at `path` (atomically); False if it was already up to date."""
    text = Path(path).read_text(encoding="utf-8")
    start, end = find_block(text, name, str(path))
    lines = text.splitlines(keepends=True)
    new = "".join(lines[:start]) + block + "".join(lines[end + 1 :])
    if new == text:
        return False
    atomic_write_text(path, new)
    return True


def build(dirs: Sequence[str], name: str, seed_noise: str | None = None, mixed: bool = False) -> str:
    """The block for the sweep directories `dirs` (compared as `zoo sweep table` compares them)."""
    summaries, differing = comparable([summarize(d) for d in dirs], mixed=mixed)
    for line in differing:
        print(f"warning: these sweeps were run differently ({line})", file=sys.stderr)
    return render(summaries, name, read_seed_noise(seed_noise) if seed_noise else None)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m zoo.sweep.report", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep directories (sweep.json + results.jsonl)")
    p.add_argument("--name", default="sweeps", help="the block's name in its markers (default sweeps)")
    p.add_argument("--seed-noise", default=None, metavar="FILE", help="seed-noise JSON (schema: module docstring)")
    p.add_argument("--mixed", action="store_true", help="compare sweeps run with different recipes (warns)")
    doc = p.add_mutually_exclusive_group()
    doc.add_argument("--check", metavar="DOC", help="exit 1 if DOC's block NAME differs from the data's")
    doc.add_argument("--write", metavar="DOC", help="replace DOC's block NAME with the data's, atomically")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    args = parse_args(argv)
    out = out or sys.stdout
    try:
        block = build(args.dirs, args.name, args.seed_noise, args.mixed)
        if args.check:
            doc = _read_doc(args.check)
            problem = first_difference(doc, block, args.name, args.check)
            if problem:
                print(problem, file=sys.stderr)
                return 1
            print(f"{args.check}: the block `{args.name}` matches the data", file=out)
        elif args.write:
            _read_doc(args.write)
            changed = write_block(args.write, block, args.name)
            print(f"{args.write}: block `{args.name}` {'rewritten' if changed else 'already up to date'}", file=out)
        else:
            out.write(block)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _read_doc(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SweepError(f"{path} cannot be read as a text document ({err}); give the markdown file to check") from None


if __name__ == "__main__":
    sys.exit(main())
