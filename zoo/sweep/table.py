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
from zoo.sweep.checks import check_manifest, check_row
from zoo.sweep.compare import changed_keys

MANIFEST = "sweep.json"
RESULTS = "results.jsonl"

# Manifest keys that may differ between runs of one sweep: the count grows, engines change.
RESUMABLE_KEYS = frozenset({"n", "workers", "address"})


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = Path(directory) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as err:  # ValueError: bad JSON and bytes that are not UTF-8
        raise SweepError(f"{path} cannot be read as JSON ({err}); it is not a sweep directory or is corrupt") from None
    return check_manifest(manifest, str(path))


def open_sweep(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Create the sweep directory, or check that it holds this same sweep (SweepError if not)."""
    directory = Path(directory)
    old = read_manifest(directory)
    if old is None:
        if directory.exists() and (directory / RESULTS).exists():
            raise SweepError(f"{directory} has {RESULTS} but no {MANIFEST}; use a new --out directory")
        atomic_write_text(directory / MANIFEST, json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")
        return
    kept = sorted((set(old) | set(manifest)) - RESUMABLE_KEYS)
    changed = changed_keys(old, manifest, kept)
    if changed:
        diffs = "; ".join(changed)
        raise SweepError(
            f"{directory} holds a different sweep ({diffs}). Rerun with the same settings to "
            "resume it (only --n, --workers and --address may change), or use a new --out directory"
        )
    if old.get("n") != manifest.get("n"):
        atomic_write_text(directory / MANIFEST, json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")


def read_rows(directory: str | Path, need: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The finished trials of a sweep directory, in the order they finished, each checked at the
    door (zoo.sweep.checks); `need` names the optional fields the caller cannot do without."""
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
    read_manifest(Path(directory))  # a corrupt manifest beside the rows is refused here too
    need = tuple(need)
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except ValueError as err:  # bad JSON, or bytes that are not UTF-8
            raise SweepError(f"{path}:{number} is not a JSON row ({err}); the table is corrupt") from None
        rows.append(check_row(row, f"{path}:{number}", need))
    seen: set[int] = set()
    for row in rows:
        if row["trial"] in seen:
            raise SweepError(f"{path}: trial {row['trial']} is recorded twice; the table was edited by hand")
        seen.add(row["trial"])
    return rows


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
