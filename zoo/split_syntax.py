"""tfds's split syntax (`train`, `train[:90%]`, `train[10:20]+test`), checked before any data is opened.

Every split the zoo reads goes through tfds, which refuses a malformed slice only once the dataset
is prepared and the split is read (`test[50%:10%]` fails deep inside with `__len__() should return
>= 0`). This grammar is the subset tfds documents for slicing; a split it refuses is refused with
the reason before work starts.
"""

from __future__ import annotations

import re

_BOUND = r"-?\d+%?"
_PART = re.compile(
    rf"(?P<name>[A-Za-z_][\w.-]*)(?:\[(?P<start>{_BOUND})?:(?P<stop>{_BOUND})?\])?(?:\((?P<rounding>[a-z_0-9]+)\))?"
)
ROUNDINGS = ("closest", "pct1_dropremainder")
EXAMPLES = "e.g. 'train', 'train[:90%]', 'train[90%:]', 'train[10:20]' or 'train+test'"


def split_problem(split: object) -> str | None:
    """Why `split` is not a split tfds can read, or None when it is well formed."""
    if not isinstance(split, str) or not split.strip():
        return f"split {split!r} is empty; name one, {EXAMPLES}"
    for part in split.split("+"):
        match = _PART.fullmatch(part.strip())
        if match is None:
            return f"split {split!r}: {part!r} is not NAME or NAME[START:STOP] ({EXAMPLES})"
        if match["rounding"] and match["rounding"] not in ROUNDINGS:
            return f"split {split!r}: rounding {match['rounding']!r} must be one of {', '.join(ROUNDINGS)}"
        problem = _slice_problem(match["start"], match["stop"])
        if problem:
            return f"split {split!r}: {problem}"
    return None


def _slice_problem(start: str | None, stop: str | None) -> str | None:
    for bound in (start, stop):
        if bound and bound.endswith("%") and abs(int(bound[:-1])) > 100:
            return f"{bound} is outside -100%..100%"
    if start is None or stop is None:
        return None
    if start.endswith("%") != stop.endswith("%"):
        return f"[{start}:{stop}] mixes a percentage and an example count"
    a, b = int(start.rstrip("%")), int(stop.rstrip("%"))
    if (a >= 0) == (b >= 0) and a >= b:
        return f"[{start}:{stop}] selects nothing: its start must come before its stop"
    return None
