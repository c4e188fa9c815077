"""An architecture as plain, frozen, validated data.

A ModelSpec is the single description of a model: the registry, config.json, samplers
and `zoo info` all serialize it the same way, and spec -> dict/JSON/TOML -> spec is
lossless.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import json
import math
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import tomli_w

from zoo.errors import SpecError, reject_unknown

Scalar = bool | int | float | str
LIMITS_ENV = "ZOO_SPEC_LIMITS"


@dataclass(frozen=True)
class SpecLimits:
    """Bounds on what a spec may ask for, so an untrusted config.json cannot make the zoo build for
    minutes or allocate gigabytes. The 24 paper models use at most 17 blocks per stage, 27 in all and
    3,712 channels; the defaults leave several times that room. Raise them for research with
    ZOO_SPEC_LIMITS="depth=500,width=65536" or `with spec_limits(depth=500): ...`."""

    depth: int = 128  # blocks in one stage
    blocks: int = 256  # blocks in all stages together
    stages: int = 16
    width: int = 16_384  # any channel count: stage width, bottleneck width, stem width
    num_classes: int = 100_000
    in_channels: int = 64
    input_size: int = 8_192
    bottleneck_ratio: float = 64.0

    def with_text(self, text: str, where: str) -> SpecLimits:
        """These limits with 'field=value,...' applied (the ZOO_SPEC_LIMITS syntax)."""
        changes: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = item.partition("=")
            kind = {f.name: f.type for f in fields(self)}.get(name.strip())
            try:
                if kind is None:
                    raise ValueError
                changes[name.strip()] = float(value) if kind == "float" else int(value)
            except ValueError:
                raise SpecError(
                    f"{where}: cannot read {item!r}; write NAME=NUMBER pairs separated by commas, "
                    f"NAME one of {[f.name for f in fields(self)]}"
                ) from None
        return dataclasses.replace(self, **changes)


_raised: contextvars.ContextVar[SpecLimits | None] = contextvars.ContextVar("zoo_spec_limits", default=None)


@functools.lru_cache(maxsize=8)
def _limits_from_env(text: str) -> SpecLimits:
    return SpecLimits().with_text(text, LIMITS_ENV)


def current_limits() -> SpecLimits:
    """The limits in force: those set by spec_limits(), else the defaults changed by ZOO_SPEC_LIMITS."""
    return _raised.get() or _limits_from_env(os.environ.get(LIMITS_ENV, ""))


@contextlib.contextmanager
def spec_limits(**changes: Any) -> Iterator[SpecLimits]:
    """Specs built inside the block may go up to these limits (for research on very large models)."""
    limits = dataclasses.replace(current_limits(), **changes)
    token = _raised.set(limits)
    try:
        yield limits
    finally:
        _raised.reset(token)


def _check_limit(where: str, name: str, value: float, limit: float, what: str) -> None:
    if value > limit:
        raise SpecError(
            f"{where} {value} exceeds the limit of {limit} {what}; a spec this large is refused before "
            f"anything is built. For research, raise it with {LIMITS_ENV}='{name}=N' or "
            f"zoo.spec.spec_limits({name}=N)"
        )


# Options the built-in components read, with the values they accept (plugins read their own).
_NUMBER_OPTIONS = {"bn_momentum": (0.0, 1.0), "bn_eps": (0.0, 1.0)}
_BOOL_OPTIONS = ("conv_bias", "zero_init_last_bn")
# Training-only regularization, as timm's create_model takes it: dropout before the classifier and
# stochastic depth (the deepest block's drop-path rate). Both act in train mode only; 0 is "off".
DROP_OPTIONS = ("drop_rate", "drop_path_rate")
BUILTIN_OPTIONS = (*_NUMBER_OPTIONS, *_BOOL_OPTIONS, *DROP_OPTIONS)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def bottleneck_width(width: int, bottleneck_ratio: float) -> int:
    """Channels inside a bottleneck block, rounded as pycls and d2l do."""
    return int(round(width * bottleneck_ratio))


class Options(Mapping[str, Scalar]):
    """An immutable, hashable mapping of component options (TOML scalars only)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Scalar] | None = None, *, where: str = "options"):
        items = dict(items or {})
        for key, value in items.items():
            if not isinstance(key, str) or not key:
                raise SpecError(f"{where}: option names must be non-empty strings, got {key!r}")
            if not isinstance(value, (bool, int, float, str)):
                raise SpecError(
                    f"{where}.{key}: option values must be a bool, int, float or string, "
                    f"got {type(value).__name__} {value!r}"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise SpecError(f"{where}.{key}: option values must be finite numbers, got {value!r}")
            if key in _NUMBER_OPTIONS:
                low, high = _NUMBER_OPTIONS[key]
                if not _is_number(value) or not low <= float(value) <= high:
                    raise SpecError(f"{where}.{key} must be a number between {low:g} and {high:g}, got {value!r}")
            if key in _BOOL_OPTIONS and not isinstance(value, bool):
                raise SpecError(f"{where}.{key} must be true or false, got {value!r}")
            if key in DROP_OPTIONS and not (_is_number(value) and 0.0 <= float(value) < 1.0):
                raise SpecError(f"{where}.{key} is a probability: a number >= 0 and < 1, got {value!r}")
        self._items = tuple(sorted(items.items()))

    def __getitem__(self, key: str) -> Scalar:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Options({dict(self._items)!r})"


@dataclass(frozen=True)
class StageSpec:
    """One stage: `depth` blocks of `width` output channels; the first carries `stride`."""

    depth: int
    width: int
    group_width: int
    bottleneck_ratio: float = 1.0
    stride: int = 2

    def __post_init__(self) -> None:
        where = "StageSpec"
        for name in ("depth", "width", "group_width", "stride"):
            value = getattr(self, name)
            if not _is_int(value):
                raise SpecError(f"{where}.{name} must be an integer, got {value!r}")
        if not _is_number(self.bottleneck_ratio):
            raise SpecError(f"{where}.bottleneck_ratio must be a number, got {self.bottleneck_ratio!r}")
        object.__setattr__(self, "bottleneck_ratio", float(self.bottleneck_ratio))
        if not math.isfinite(self.bottleneck_ratio):
            raise SpecError(f"{where}.bottleneck_ratio must be a finite number, got {self.bottleneck_ratio}")
        limits = current_limits()
        _check_limit(f"{where}.depth", "depth", self.depth, limits.depth, "blocks per stage")
        _check_limit(f"{where}.width", "width", self.width, limits.width, "channels")
        _check_limit(
            f"{where}.bottleneck_ratio",
            "bottleneck_ratio",
            self.bottleneck_ratio,
            limits.bottleneck_ratio,
            "(times the width)",
        )
        if self.depth < 1:
            raise SpecError(f"{where}.depth must be >= 1, got {self.depth}")
        if self.width < 1:
            raise SpecError(f"{where}.width must be >= 1, got {self.width}")
        if self.group_width < 1:
            raise SpecError(f"{where}.group_width must be >= 1, got {self.group_width}")
        if self.stride not in (1, 2):
            raise SpecError(f"{where}.stride must be 1 or 2, got {self.stride}")
        if not self.bottleneck_ratio > 0:
            raise SpecError(f"{where}.bottleneck_ratio must be > 0, got {self.bottleneck_ratio}")
        inner = bottleneck_width(self.width, self.bottleneck_ratio)
        _check_limit(f"{where} bottleneck width", "width", inner, limits.width, "channels")
        if inner < 1 or inner % self.group_width:
            raise SpecError(
                f"{where}: width {self.width} x bottleneck_ratio {self.bottleneck_ratio} = {inner} "
                f"channels do not split into whole groups of group_width {self.group_width}; "
                f"choose a group_width that divides {inner}"
            )

    @property
    def bottleneck_width(self) -> int:
        return bottleneck_width(self.width, self.bottleneck_ratio)

    @property
    def groups(self) -> int:
        return self.bottleneck_width // self.group_width

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "stage") -> StageSpec:
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: a stage must be a table/object, got {type(data).__name__}")
        reject_unknown(data, (f.name for f in fields(cls)), where, what="stage field")
        missing = [n for n in ("depth", "width", "group_width") if n not in data]
        if missing:
            raise SpecError(f"{where}: missing stage field(s) {missing}")
        try:
            return cls(**data)
        except SpecError as err:
            raise SpecError(f"{where}: {err}") from None


@dataclass(frozen=True)
class ModelSpec:
    """A whole AnyNet: stem -> stages of blocks -> head, plus the options its components read."""

    stages: tuple[StageSpec, ...]
    stem: str = "simple"
    stem_width: int = 32
    block: str = "resnext"
    head: str = "classifier"
    num_classes: int = 1000
    in_channels: int = 3
    input_size: int = 224
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        where = "ModelSpec"
        stages = tuple(self.stages) if isinstance(self.stages, (list, tuple)) else self.stages
        if not isinstance(stages, tuple) or not stages:
            raise SpecError(f"{where}.stages must be a non-empty list of stages")
        for i, stage in enumerate(stages):
            if not isinstance(stage, StageSpec):
                raise SpecError(f"{where}.stages[{i}] must be a StageSpec, got {type(stage).__name__}")
        object.__setattr__(self, "stages", stages)
        for name in ("stem", "block", "head"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise SpecError(f"{where}.{name} must be a component name (non-empty string), got {value!r}")
        for name in ("stem_width", "in_channels", "input_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise SpecError(f"{where}.{name} must be a positive integer, got {value!r}")
        limits = current_limits()
        _check_limit(f"{where}.stem_width", "width", self.stem_width, limits.width, "channels")
        _check_limit(f"{where}.num_classes", "num_classes", self.num_classes, limits.num_classes, "classes")
        _check_limit(f"{where}.in_channels", "in_channels", self.in_channels, limits.in_channels, "channels")
        _check_limit(f"{where}.input_size", "input_size", self.input_size, limits.input_size, "pixels")
        _check_limit(f"{where} number of stages", "stages", len(stages), limits.stages, "stages")
        _check_limit(f"{where} total depth", "blocks", sum(s.depth for s in stages), limits.blocks, "blocks")
        if not _is_int(self.num_classes) or self.num_classes < 0:
            raise SpecError(
                f"{where}.num_classes must be an integer >= 0 (0: no classifier, pooled features), "
                f"got {self.num_classes!r}"
            )
        if not isinstance(self.options, Options):
            if not isinstance(self.options, Mapping):
                raise SpecError(f"{where}.options must be a table/object, got {type(self.options).__name__}")
            object.__setattr__(self, "options", Options(self.options, where=f"{where}.options"))

    @property
    def widths(self) -> list[int]:
        return [s.width for s in self.stages]

    @property
    def depths(self) -> list[int]:
        return [s.depth for s in self.stages]

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed; unknown fields raise SpecError. `drop_rate=` and
        `drop_path_rate=` set those options, as timm's create_model takes them; 0 or None removes
        one, so a spec without them equals the registry's."""
        known = [*(f.name for f in fields(self)), *DROP_OPTIONS]
        reject_unknown(changes, known, "ModelSpec.replace", what="ModelSpec field")
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        drops = {k: changes.pop(k) for k in DROP_OPTIONS if k in changes}
        data.update(changes)
        if drops:
            options = dict(data["options"])
            for key, rate in drops.items():
                if rate is None or (_is_number(rate) and rate == 0):
                    options.pop(key, None)
                else:
                    options[key] = float(rate) if _is_number(rate) else rate  # Options names a bad value
            data["options"] = options
        return ModelSpec(**data)

    # -- serialization ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": self.stem,
            "stem_width": self.stem_width,
            "block": self.block,
            "head": self.head,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "input_size": self.input_size,
            "options": dict(self.options),
            "stages": [s.to_dict() for s in self.stages],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "spec") -> ModelSpec:
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: a model spec must be a table/object, got {type(data).__name__}")
        reject_unknown(data, (f.name for f in fields(cls)), where)
        if "stages" not in data:
            raise SpecError(f"{where}: missing field 'stages'")
        raw_stages = data["stages"]
        if not isinstance(raw_stages, (list, tuple)):
            raise SpecError(f"{where}.stages must be a list of stage tables, got {type(raw_stages).__name__}")
        stages = tuple(StageSpec.from_dict(s, where=f"{where}.stages[{i}]") for i, s in enumerate(raw_stages))
        rest = {k: v for k, v in data.items() if k != "stages"}
        try:
            return cls(stages=stages, **rest)
        except SpecError as err:
            raise SpecError(f"{where}: {err}") from None

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str, *, where: str = "spec JSON") -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"{where}: not valid JSON ({err})") from None
        except RecursionError:
            raise SpecError(f"{where}: nests too deeply to be a model spec") from None
        return cls.from_dict(data, where=where)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str, *, where: str = "spec TOML") -> ModelSpec:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise SpecError(f"{where}: not valid TOML ({err})") from None
        except RecursionError:
            raise SpecError(f"{where}: nests too deeply to be a model spec") from None
        return cls.from_dict(data, where=where)
