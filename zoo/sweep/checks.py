"""The door every sweep row and manifest passes, whether read from a folder or a Hub dataset.

A results table or manifest may have been edited by hand, truncated, or published by anyone;
`table`, `plot`, `fit` and `push` trust only what passed here, so a bad value is one
SweepError naming the file, the line and the field, never a KeyError three calls later.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from zoo.errors import SweepError, ZooError
from zoo.spec import ModelSpec

# Fields a row may lack (old or hand-made tables) but, when present, must have these types.
OBJECT_FIELDS = ("complexity", "spec", "recipe", "timings", "params")
# Manifest fields that must be objects when present; comparisons read them key by key.
MANIFEST_OBJECTS = ("recipe", "bands", "base")


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def check_error(value: Any, where: str) -> None:
    """SweepError unless a row's error is a number in [0, 1] (NaN would poison every statistic)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SweepError(f"{where}: error {value!r} is not a number; fix or delete that line of the table")
    if not (0.0 <= value <= 1.0):  # also refuses NaN and infinities
        raise SweepError(f"{where}: error {value!r} is not a fraction in [0, 1]; fix or delete that line of the table")


def check_row(row: Any, where: str, need: Iterable[str] = ()) -> dict[str, Any]:
    """`row` if it is a trial row: an object with an integer `trial`, an `error` in [0, 1], and
    well-typed optional fields; `need` names optional fields this command cannot do without."""
    if not isinstance(row, dict):
        raise SweepError(
            f"{where}: a trial row must be a JSON object, got {type(row).__name__}; fix or delete that line"
        )
    for field in ("trial", "error"):
        if field not in row:
            raise SweepError(f"{where}: the row has no {field!r} field; fix or delete that line of the table")
    trial = row["trial"]
    if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
        raise SweepError(f"{where}: trial {trial!r} is not a trial index (an integer >= 0)")
    check_error(row["error"], where)
    for field in OBJECT_FIELDS:
        if field in row and not isinstance(row[field], dict):
            raise SweepError(f"{where}: {field} is {type(row[field]).__name__}, not an object")
    if "complexity" in row:
        for key in ("flops", "params"):
            value = row["complexity"].get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SweepError(f"{where}: complexity.{key} {value!r} is not a count (an integer >= 0)")
    if "seconds" in row and not (_number(row["seconds"]) and row["seconds"] >= 0):
        raise SweepError(f"{where}: seconds {row['seconds']!r} is not a duration (a number >= 0)")
    if "weights" in row:
        check_weights_name(row["weights"], where)
    if "space" in row and not isinstance(row["space"], str):
        raise SweepError(f"{where}: space {row['space']!r} is not a name")
    for field in need:
        if field not in row:
            raise SweepError(f"{where}: the row has no {field!r} field; fix or delete that line of the table")
    if "spec" in need:
        try:
            ModelSpec.from_dict(row["spec"], where="spec")
        except ZooError as err:
            raise SweepError(f"{where}: {err}") from None
    return row


def check_weights_name(value: Any, where: str) -> None:
    """SweepError unless a row's `weights` is a relative path inside the sweep folder (no '..', not absolute):
    a table from anywhere must not point a reader at files outside it."""
    parts = value.replace("\\", "/").split("/") if isinstance(value, str) else []
    if not parts or value.startswith("/") or ":" in value or any(p in ("", ".", "..") for p in parts):
        raise SweepError(
            f"{where}: weights {value!r} is not a path inside the sweep folder (like weights/trial-0001.safetensors)"
        )


def check_manifest(manifest: Any, where: str) -> dict[str, Any]:
    """`manifest` if it is a sweep manifest: an object whose space is a name and whose recipe,
    bands and base are objects."""
    if not isinstance(manifest, dict):
        raise SweepError(f"{where}: a sweep manifest must be a JSON object, got {type(manifest).__name__}")
    if "space" in manifest and not isinstance(manifest["space"], str):
        raise SweepError(f"{where}: space {manifest['space']!r} is not a name")
    for field in MANIFEST_OBJECTS:
        if field in manifest and not isinstance(manifest[field], dict):
            raise SweepError(f"{where}: {field} is {type(manifest[field]).__name__}, not an object")
    for field in ("n", "seed"):
        value = manifest.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SweepError(f"{where}: {field} {value!r} is not an integer")
    return manifest
