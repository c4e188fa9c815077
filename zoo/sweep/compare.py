"""Which sweeps may be compared: the same recipe, band, dataset and base spec, differing only in space.

An EDF or KS test between two populations trained differently measures the recipe, not the
design space, so `table` and `plot` refuse such a comparison unless asked to go on
(`--mixed`), and either way name each differing key (`recipe.lr: a=0.1, b=0.05`) rather
than printing two whole manifests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zoo.errors import SweepError

# Manifest keys that must agree; `space` differs on purpose and n, seed, workers, address,
# format say how much was run and where, not what.
COMPARED = ("recipe", "bands", "base")
# Recipe keys that name where the data was, not which data.
IGNORED = frozenset({"recipe.data_dir"})
MISSING = "<missing>"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys: {"recipe": {"lr": 0.1}} -> {"recipe.lr": 0.1}."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key in sorted(value, key=str):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], keys: Sequence[str] | None = None) -> list[str]:
    """`key: old -> new` for each dotted key whose value differs (restricted to the top-level `keys`)."""
    a = flatten({k: v for k, v in old.items() if keys is None or k in keys})
    b = flatten({k: v for k, v in new.items() if keys is None or k in keys})
    return [
        f"{k}: {a.get(k, MISSING)!r} -> {b.get(k, MISSING)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k, MISSING) != b.get(k, MISSING)
    ]


def differences(labelled: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """One line per compared key on which the sweeps disagree: `recipe.lr: a=0.1, b=0.05`."""
    flat = [(label, flatten({k: m.get(k, {}) for k in COMPARED})) for label, m in labelled]
    keys = sorted({k for _, f in flat for k in f} - IGNORED)
    lines = []
    for key in keys:
        values = [f.get(key, MISSING) for _, f in flat]
        if any(v != values[0] for v in values[1:]):
            lines.append(f"{key}: " + ", ".join(f"{label}={v!r}" for (label, _), v in zip(flat, values)))
    return lines


def check_comparable(labelled: Sequence[tuple[str, Mapping[str, Any]]], *, mixed: bool = False) -> list[str]:
    """SweepError naming the differing keys, unless `mixed`; then the lines to warn with."""
    lines = differences(labelled)
    if lines and not mixed:
        raise SweepError(
            "these sweeps were not run the same way, so their EDFs would compare recipes, not design spaces: "
            + "; ".join(lines)
            + ". Compare sweeps with one recipe, band and base, or pass --mixed to compare them anyway"
        )
    return lines


def unique_labels(labels: Sequence[str], directories: Sequence[str]) -> list[str]:
    """Legend labels, with the folder added where two sweeps share a space name (and a number if still equal)."""
    out = [
        f"{label} ({directory})" if labels.count(label) > 1 else label for label, directory in zip(labels, directories)
    ]
    return [f"{label} #{i + 1}" if out.count(label) > 1 else label for i, label in enumerate(out)]
