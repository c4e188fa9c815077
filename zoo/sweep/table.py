"""A sweep directory: its manifest (what was asked) and its results table (one JSONL row per trial).

Only the driver process writes, and every write replaces the whole file atomically (temp
file + os.replace), so a crash at any moment leaves either the old or the new table, never
a half row. Rows are keyed by trial index: a trial is recorded at most once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write_text
from zoo.errors import SweepError

MANIFEST = "sweep.json"
RESULTS = "results.jsonl"

# Manifest keys that may differ between runs of one sweep: the count grows, engines change.
RESUMABLE_KEYS = frozenset({"n", "workers", "address"})


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = Path(directory) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SweepError(f"{path} cannot be read as JSON ({err}); it is not a sweep directory or is corrupt") from None


def open_sweep(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Create the sweep directory, or check that it holds this same sweep (SweepError if not)."""
    directory = Path(directory)
    old = read_manifest(directory)
    if old is None:
        if directory.exists() and (directory / RESULTS).exists():
            raise SweepError(f"{directory} has {RESULTS} but no {MANIFEST}; use a new --out directory")
        atomic_write_text(directory / MANIFEST, json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")
        return
    changed = sorted(k for k in set(old) | set(manifest) if k not in RESUMABLE_KEYS and old.get(k) != manifest.get(k))
    if changed:
        diffs = "; ".join(f"{k}: {old.get(k)!r} -> {manifest.get(k)!r}" for k in changed)
        raise SweepError(
            f"{directory} holds a different sweep ({diffs}). Rerun with the same settings to "
            "resume it (only --n, --workers and --address may change), or use a new --out directory"
        )
    if old.get("n") != manifest.get("n"):
        atomic_write_text(directory / MANIFEST, json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")


def read_rows(directory: str | Path) -> list[dict[str, Any]]:
    """The finished trials of a sweep directory, in the order they finished."""
    path = Path(directory) / RESULTS
    if not Path(directory).is_dir():
        raise SweepError(f"{directory} is not a directory; give the --out DIR of a `zoo sweep run`")
    if not path.exists():
        if (Path(directory) / MANIFEST).exists():
            return []
        raise SweepError(
            f"{directory} has no {RESULTS}: it is not a sweep directory (run `zoo sweep run ... "
            f"--out {directory}` first)"
        )
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise SweepError(f"{path}:{number} is not a JSON row ({err}); the table is corrupt") from None
        if not isinstance(row, dict) or "trial" not in row or "error" not in row:
            raise SweepError(f"{path}:{number} is not a trial row (needs 'trial' and 'error')")
        _check_error(row["error"], f"{path}:{number}")
        rows.append(row)
    seen: set[int] = set()
    for row in rows:
        if row["trial"] in seen:
            raise SweepError(f"{path}: trial {row['trial']} is recorded twice; the table was edited by hand")
        seen.add(row["trial"])
    return rows


def _check_error(value: Any, where: str) -> None:
    """SweepError unless a row's error is a number in [0, 1] (NaN would poison every statistic)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SweepError(f"{where}: error {value!r} is not a number; fix or delete that line of the table")
    if not (0.0 <= value <= 1.0):  # also refuses NaN and infinities
        raise SweepError(f"{where}: error {value!r} is not a fraction in [0, 1]; fix or delete that line of the table")


def append_row(directory: Path, row: Mapping[str, Any]) -> None:
    """Add one finished trial to the table atomically; a trial already recorded is a SweepError."""
    existing = read_rows(directory) if (Path(directory) / RESULTS).exists() else []
    if any(r["trial"] == row["trial"] for r in existing):
        raise SweepError(f"trial {row['trial']} is already recorded in {Path(directory) / RESULTS}")
    atomic_write_text(Path(directory) / RESULTS, _jsonl([*existing, row]))


def _jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(dict(r), sort_keys=True) + "\n" for r in rows)


def space_name(directory: Path) -> str:
    manifest = read_manifest(directory) or {}
    return str(manifest.get("space", Path(directory).name))
