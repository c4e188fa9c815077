"""The AnyNet rule: stages given explicitly, as the seed's (depth, width, group_width, bot_mul) tuples."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.errors import SpecError, reject_unknown
from zoo.spec import StageSpec

_TUPLE_FIELDS = ("depth", "width", "group_width", "bottleneck_ratio", "stride")


def expand_anynet(params: dict[str, Any]) -> list[StageSpec]:
    """Design rule `anynet`: `stages` is a list of [depth, width, group_width, bot_mul(, stride)] or tables."""
    reject_unknown(params, ("stages",), "anynet", what="parameter")
    raw = params.get("stages")
    if not isinstance(raw, (list, tuple)) or not raw:
        raise SpecError("anynet: 'stages' must be a non-empty list of [depth, width, group_width, bot_mul]")
    stages = []
    for i, item in enumerate(raw):
        where = f"anynet.stages[{i}]"
        if isinstance(item, Mapping):
            stages.append(StageSpec.from_dict(item, where=where))
            continue
        if not isinstance(item, (list, tuple)) or not 3 <= len(item) <= 5:
            raise SpecError(f"{where}: expected [depth, width, group_width, bot_mul(, stride)], got {item!r}")
        try:
            stages.append(StageSpec(**dict(zip(_TUPLE_FIELDS, item))))
        except SpecError as err:
            raise SpecError(f"{where}: {err}") from None
    return stages
