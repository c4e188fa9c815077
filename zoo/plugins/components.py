"""What a stem, block, head or design rule is: a named factory plus its analytic cost.

These small records are the contract between the zoo and every plugin, built-in or not.
Their signatures are checked when a plugin registers, so a broken component fails with
an error naming the plugin rather than deep inside JAX.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from zoo.errors import ComponentContractError

if TYPE_CHECKING:
    from zoo.cost import Cost


# What each component's functions look like: the arguments come by position (their names are free),
# `rngs` by keyword; `options` is the spec's options table for that component.
class StemBuild(Protocol):
    def __call__(self, in_channels: int, out_channels: int, options: Any, /, *, rngs: Any) -> Any: ...


class StemCost(Protocol):
    def __call__(self, cost: Cost, in_channels: int, out_channels: int, options: Any, /) -> Cost: ...


class BlockBuild(Protocol):
    def __call__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        group_width: int,
        bottleneck_ratio: float,
        options: Any,
        /,
        *,
        rngs: Any,
    ) -> Any: ...


class BlockCost(Protocol):
    def __call__(
        self,
        cost: Cost,
        in_channels: int,
        out_channels: int,
        stride: int,
        group_width: int,
        bottleneck_ratio: float,
        options: Any,
        /,
    ) -> Cost: ...


class HeadBuild(Protocol):
    def __call__(self, in_channels: int, num_classes: int, options: Any, /, *, rngs: Any) -> Any: ...


class HeadCost(Protocol):
    def __call__(self, cost: Cost, in_channels: int, num_classes: int, options: Any, /) -> Cost: ...


@dataclass(frozen=True)
class Component:
    """Base record: a name, a factory, a complexity function, and whether it overrides.

    The factory is called with its arguments by position and `rngs` by keyword.
    """

    name: str
    build: Callable[..., Any]
    complexity: Callable[..., Any]
    description: str = ""
    override: bool = False

    kind: ClassVar[str] = "component"
    build_args: ClassVar[tuple[str, ...]] = ()
    complexity_args: ClassVar[tuple[str, ...]] = ()

    def check(self, plugin: str) -> None:
        """Raise ComponentContractError (naming `plugin`) unless the record keeps the contract."""
        where = f"{self.kind} {self.name!r} from plugin {plugin!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ComponentContractError(f"{where}: name must be a non-empty string")
        _check_callable(self.build, self.build_args, f"{where}: build")
        _check_callable(self.complexity, self.complexity_args, f"{where}: complexity")


@dataclass(frozen=True)
class Stem(Component):
    """build(in_channels, out_channels, options, rngs) -> nnx.Module;
    complexity(cost, in_channels, out_channels, options) -> Cost."""

    build: StemBuild
    complexity: StemCost
    kind: ClassVar[str] = "stem"
    build_args: ClassVar[tuple[str, ...]] = ("in_channels", "out_channels", "options", "rngs")
    complexity_args: ClassVar[tuple[str, ...]] = ("cost", "in_channels", "out_channels", "options")


@dataclass(frozen=True)
class Block(Component):
    """build(in_channels, out_channels, stride, group_width, bottleneck_ratio, options, rngs) -> nnx.Module;
    complexity(cost, in_channels, out_channels, stride, group_width, bottleneck_ratio, options) -> Cost."""

    build: BlockBuild
    complexity: BlockCost
    kind: ClassVar[str] = "block"
    build_args: ClassVar[tuple[str, ...]] = (
        "in_channels",
        "out_channels",
        "stride",
        "group_width",
        "bottleneck_ratio",
        "options",
        "rngs",
    )
    complexity_args: ClassVar[tuple[str, ...]] = (
        "cost",
        "in_channels",
        "out_channels",
        "stride",
        "group_width",
        "bottleneck_ratio",
        "options",
    )


@dataclass(frozen=True)
class Head(Component):
    """build(in_channels, num_classes, options, rngs) -> nnx.Module;
    complexity(cost, in_channels, num_classes, options) -> Cost."""

    build: HeadBuild
    complexity: HeadCost
    kind: ClassVar[str] = "head"
    build_args: ClassVar[tuple[str, ...]] = ("in_channels", "num_classes", "options", "rngs")
    complexity_args: ClassVar[tuple[str, ...]] = ("cost", "in_channels", "num_classes", "options")


@dataclass(frozen=True)
class DesignRule:
    """A design space: expand(params: dict) -> list[StageSpec], and optionally a sampler.

    `sample(rng)` (optional) takes a numpy.random.Generator or an int seed and returns the
    params dict of one random model of the space, which `expand` accepts; the same seed
    gives the same params. Sweeps draw models through it without knowing the space.
    """

    name: str
    expand: Callable[[dict[str, Any]], Any]
    description: str = ""
    sample: Callable[..., Any] | None = None
    override: bool = False

    kind: ClassVar[str] = "design rule"

    def check(self, plugin: str) -> None:
        where = f"design rule {self.name!r} from plugin {plugin!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ComponentContractError(f"{where}: name must be a non-empty string")
        _check_callable(self.expand, ("params",), f"{where}: expand")
        if self.sample is not None:
            _check_callable(self.sample, ("rng",), f"{where}: sample")


def _check_callable(fn: Any, args: tuple[str, ...], where: str) -> None:
    if not callable(fn):
        raise ComponentContractError(f"{where} must be callable, got {type(fn).__name__}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without signatures: checked when called
    try:
        positional = [a for a in args if a != "rngs"]
        keywords = {"rngs": None} if "rngs" in args else {}
        signature.bind(*positional, **keywords)
    except TypeError as err:
        raise ComponentContractError(
            f"{where} must accept ({', '.join(a if a != 'rngs' else '*, rngs' for a in args)}); "
            f"its signature is {signature} ({err})"
        ) from None
