"""The pluggy plugin manager: discovery, and the component tables built from the hooks.

Discovery order: the zoo's built-ins (BUILTINS), installed distributions (entry-point group
`zoo.plugins`, skipped when ZOO_DISABLE_PLUGIN_AUTOLOAD is set), modules named in
ZOO_PLUGINS, then objects given to `register_plugin`. ZOO_DISABLE_PLUGINS=name,... blocks
plugins by name, as pytest's `-p no:NAME` does. A plugin that fails to import or raises in a
hook is skipped with a warning and recorded, so the rest of the zoo works.

Which pluggy semantics hold (docs/plugins.md, pinned by tests/test_plugin_hooks.py): the hooks
are pluggy hooks, and `pm.hook.zoo_add_blocks()` works as in any pluggy project; the manager
itself calls each collection hook one implementation at a time, in `get_hookimpls()` order
(registration order, `trylast` implementations first and `tryfirst` ones last), so a failure is
pinned on its plugin. Wrappers (`wrapper=True`, `hookwrapper=True`) are refused on these hooks:
nothing passes through them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pluggy

import zoo.plugins.hookspecs as hookspecs
from zoo.errors import (
    ComponentContractError,
    PluginConflictError,
    PluginError,
    UnknownComponentError,
    ZooError,
    did_you_mean,
)
from zoo.plugins.components import Block, DesignRule, Head, Stem
from zoo.plugins.first_party import install_hint
from zoo.plugins.layout_records import LayoutPart, WeightLayout
from zoo.registry_schema import check_entry, read_registry_file

ENTRY_POINT_GROUP = "zoo.plugins"
DISABLE_ENV = "ZOO_DISABLE_PLUGINS"
# The zoo's own plugins, (name, module), loaded by module name like pytest's default plugins (the
# layouts live with the weights layer above, which this layer does not import).
BUILTINS = (("zoo.builtin", "zoo.plugins.builtin"), ("zoo.builtin_layouts", "zoo.weights.layouts.builtin"))
BUILTIN_NAME = BUILTINS[0][0]

# kind -> (hook name, record type)
KINDS: dict[str, tuple[str, type]] = {
    "stem": ("zoo_add_stems", Stem),
    "block": ("zoo_add_blocks", Block),
    "head": ("zoo_add_heads", Head),
    "rule": ("zoo_add_design_rules", DesignRule),
    "layout": ("zoo_add_weight_layouts", WeightLayout),
    "layout_part": ("zoo_add_layout_parts", LayoutPart),
}


class Registered(NamedTuple):
    """One row of a component table: the record and the plugin that contributed it."""

    record: Any
    plugin: str


class PluginWarning(UserWarning):
    """A plugin was skipped because it failed to import or raised in a hook."""


@dataclass
class PluginInfo:
    name: str
    distribution: str | None = None
    version: str | None = None
    contributes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginFailure:
    name: str
    error: str
    distribution: str | None = None


@dataclass(frozen=True)
class ModelContribution:
    """A registry entry contributed by a plugin (`entry` is a table, `source` where it came from)."""

    entry: Mapping[str, Any]
    plugin: str
    source: str
    defaults: Mapping[str, Any] = field(default_factory=dict)


class ZooPluginManager:
    """Wraps pluggy's manager with failure isolation and name -> component tables."""

    def __init__(self, *, autoload: bool | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []
        self._tables: dict[str, dict[str, Registered]] | None = None
        self._models: dict[str, ModelContribution] | None = None
        self._drops = 0  # plugins dropped while building tables; a change means build again
        self.generation = 0  # bumped whenever the set of plugins changes: caches of the tables key on it
        if autoload is None:
            autoload = not os.environ.get("ZOO_DISABLE_PLUGIN_AUTOLOAD")
        self.blocked = _names(os.environ.get(DISABLE_ENV, ""))
        for name in self.blocked:
            self.pm.set_blocked(name)
        for name, module in BUILTINS:
            if not self.pm.is_blocked(name):
                self._add(
                    importlib.import_module(module), name, distribution="anynet-zoo", version=_version("anynet-zoo")
                )
        if autoload:
            self._load_entry_points()
        for module_name in _names(os.environ.get("ZOO_PLUGINS", "")):
            self._load_module(module_name)

    # -- discovery -----------------------------------------------------------------
    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            if self.pm.is_blocked(ep.name):  # ZOO_DISABLE_PLUGINS: not even imported
                continue
            if self.pm.has_plugin(ep.name):
                other = self.infos.get(ep.name)
                self._fail(
                    ep.name,
                    f"entry point name {ep.name!r} is already taken by distribution "
                    f"{other.distribution if other else None!r}; rename one of the `zoo.plugins` entry points",
                    dist,
                )
                continue
            try:
                plugin = ep.load()
            except Exception as err:  # a broken plugin must not break the zoo
                self._fail(ep.name, f"import failed: {type(err).__name__}: {err}", dist)
                continue
            self._add(plugin, ep.name, distribution=dist, version=version)

    def _load_module(self, module_name: str) -> None:
        if self.pm.has_plugin(module_name) or self.pm.is_blocked(module_name):
            return
        try:
            module = importlib.import_module(module_name)
        except Exception as err:
            self._fail(module_name, f"import failed (from ZOO_PLUGINS): {type(err).__name__}: {err}")
            return
        if self.pm.is_registered(module):  # already loaded through its entry point
            return
        self._add(module, module_name)

    def _add(self, plugin: Any, name: str, *, distribution: str | None = None, version: str | None = None) -> None:
        try:
            self.pm.register(plugin, name=name)
            self._check_hook_names(plugin, name)
        except Exception as err:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(name, f"registration failed: {type(err).__name__}: {err}", distribution)
            return
        self.infos[name] = PluginInfo(name, distribution, version)
        self._invalidate()

    def _check_hook_names(self, plugin: Any, name: str) -> None:
        """A `@zoo.plugin_kit.hookimpl` whose name is no hook (a typo) would be silently ignored, and a
        wrapper on a collection hook would never be called: refuse both."""
        wrappers = sorted(
            c.name
            for c in self.pm.get_hookcallers(plugin) or []
            for impl in c.get_hookimpls()
            if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper)
        )
        if wrappers:
            raise PluginError(
                f"plugin {name!r} wraps hook(s) {wrappers}; the zoo calls its collection hooks one plugin at a "
                "time, so a wrapper would never run. Return records from a plain @hookimpl instead"
            )
        known = [n for n in dir(hookspecs) if n.startswith("zoo_")]
        unknown = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [] if not c.has_spec())
        if unknown:
            hints = "".join(f" {u!r}:{did_you_mean(u, known)}" for u in unknown)
            raise PluginError(
                f"plugin {name!r} implements unknown hook(s) {unknown}.{hints} The hooks are: {', '.join(known)}."
            )

    def _fail(self, name: str, error: str, distribution: str | None = None) -> None:
        self.failures.append(PluginFailure(name, error, distribution))
        warnings.warn(f"zoo plugin {name!r} skipped: {error}", PluginWarning, stacklevel=3)

    def _invalidate(self) -> None:
        self.generation += 1
        self._tables = None
        self._models = None

    # -- runtime registration ------------------------------------------------------
    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register an object now; its contributions are checked at once and errors raised."""
        name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
        if self.pm.is_blocked(name):
            raise PluginError(f"plugin {name!r} is blocked by {DISABLE_ENV}; remove it from there to register it")
        if self.pm.has_plugin(name) or self.pm.is_registered(plugin):
            raise PluginError(f"plugin {name!r} is already registered; unregister it first")
        try:
            self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as err:
            raise PluginError(f"plugin {name!r} cannot be registered: {err}") from None
        try:
            self._check_hook_names(plugin, name)
        except PluginError:
            self.pm.unregister(plugin)
            raise
        self.infos[name] = PluginInfo(name)
        self._invalidate()
        try:
            self._build_tables(strict=name)
        except Exception:
            self.unregister(name)
            raise
        return name

    def unregister(self, name_or_plugin: Any) -> None:
        name = name_or_plugin if isinstance(name_or_plugin, str) else self.pm.get_name(name_or_plugin)
        if name is None or not self.pm.has_plugin(name):
            raise PluginError(f"plugin {name_or_plugin!r} is not registered; registered: {sorted(self.infos)}")
        self.pm.unregister(name=name)
        self.infos.pop(name, None)
        self._invalidate()

    # -- tables --------------------------------------------------------------------
    def _call_each(self, hook_name: str, strict: str | None) -> Iterable[tuple[str, Any]]:
        """Call one hook plugin by plugin, so a failure is pinned on its plugin: in get_hookimpls() order,
        registration order with trylast implementations first and tryfirst ones last (pluggy's own
        call order reversed, so the built-ins come first and win a clash with a newcomer)."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                result = impl.function()
            except Exception as err:
                if impl.plugin_name == strict:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: hook {hook_name} raised {type(err).__name__}: {err}"
                    ) from err
                self._drop(impl.plugin_name, f"hook {hook_name} raised {type(err).__name__}: {err}")
                continue
            if result is not None:
                yield impl.plugin_name, result

    def _drop(self, name: str, error: str) -> None:
        info = self.infos.pop(name, None)
        self.pm.unregister(name=name)
        self._drops += 1
        self._fail(name, error, info.distribution if info else None)

    def _build_tables(self, strict: str | None = None) -> None:
        """Collect every contribution; a plugin dropped part-way is removed by building again."""
        while True:
            drops = self._drops
            tables = self._collect_components(strict)
            models = self._collect_models(strict)
            if self._drops == drops:
                break
        self._tables, self._models = tables, models

    def _collect_components(self, strict: str | None) -> dict[str, dict[str, Registered]]:
        for info in self.infos.values():
            info.contributes = {}
        tables: dict[str, dict[str, Registered]] = {}
        for kind, (hook_name, record_type) in KINDS.items():
            table: dict[str, Registered] = {}
            for plugin, records in list(self._call_each(hook_name, strict)):
                try:
                    records = _records(records, plugin, hook_name, record_type)
                except ComponentContractError as err:
                    if plugin == strict:
                        raise
                    self._drop(plugin, str(err))
                    continue
                try:
                    for record in records:
                        _insert(table, kind, record.name, record, plugin, record.override)
                        self.infos[plugin].contributes.setdefault(kind, []).append(record.name)
                except PluginConflictError as err:  # a clash with a built-in skips the newcomer: the zoo still runs
                    if plugin == strict or table[record.name].plugin not in _BUILTINS:
                        raise
                    self._drop(plugin, str(err))
            tables[kind] = table
        return tables

    def _collect_models(self, strict: str | None) -> dict[str, ModelContribution]:
        models: dict[str, Registered] = {}
        for plugin, result in list(self._call_each("zoo_add_models", strict)):
            try:
                if isinstance(result, (str, Path)):
                    defaults, entries = read_registry_file(Path(result))
                    source = str(result)
                elif isinstance(result, Mapping):
                    defaults, entries, source = {}, dict(result), f"plugin {plugin!r}"
                    for name, entry in entries.items():
                        check_entry(name, entry, source)
                else:
                    raise PluginError(
                        f"plugin {plugin!r}: zoo_add_models must return a mapping of name -> entry table "
                        f"or the path of a TOML file, got {type(result).__name__}"
                    )
            except ZooError as err:
                if plugin == strict:
                    raise
                self._drop(plugin, f"zoo_add_models: {err}")
                continue
            try:
                for name, entry in entries.items():
                    override = bool(entry.get("override", False))
                    contribution = ModelContribution(entry, plugin, source, defaults)
                    _insert(models, "model", name, contribution, plugin, override)
                    self.infos[plugin].contributes.setdefault("model", []).append(name)
            except PluginConflictError as err:
                if plugin == strict or models[name].plugin not in _BUILTINS:
                    raise
                self._drop(plugin, str(err))
        return {name: row.record for name, row in models.items()}

    def tables(self) -> dict[str, dict[str, Registered]]:
        if self._tables is None:
            self._build_tables()
        assert self._tables is not None
        return self._tables

    def models(self) -> dict[str, ModelContribution]:
        if self._models is None:
            self._build_tables()
        assert self._models is not None
        return self._models

    def get(self, kind: str, name: str, *, needed_by: str | None = None) -> Any:
        """The component record of `kind` called `name`, or UnknownComponentError."""
        table = self.tables()[kind]
        if name in table:
            return table[name].record
        context = f" (needed by {needed_by})" if needed_by else ""
        hint = install_hint(kind, name)
        what = getattr(KINDS[kind][1], "kind", kind)  # the records' own name: "design rule" for kind "rule"
        raise UnknownComponentError(
            f"no {what} named {name!r} is registered{context}.{did_you_mean(name, table)} "
            f"Available {what}s: {', '.join(sorted(table))}.{hint} "
            "Install the plugin that provides it, or run `zoo plugins` to see what is loaded."
        )

    def provider(self, kind: str, name: str) -> str:
        return self.tables()[kind][name].plugin


_BUILTINS = tuple(name for name, _ in BUILTINS)


def _names(value: str) -> list[str]:
    """A comma-separated environment value as a list of names."""
    return [n.strip() for n in value.split(",") if n.strip()]


def _records(result: Any, plugin: str, hook_name: str, record_type: type[Any]) -> list:
    """A hook's result as a checked list of records, or ComponentContractError naming the plugin."""
    if isinstance(result, Mapping):
        result = result.values()
    try:
        records: list[Any] = list(result)
    except TypeError:
        raise ComponentContractError(
            f"plugin {plugin!r}: {hook_name} must return an iterable of zoo.plugin_kit.{record_type.__name__} records, "
            f"got {type(result).__name__}"
        ) from None
    for record in records:
        if not isinstance(record, record_type):
            raise ComponentContractError(
                f"plugin {plugin!r}: {hook_name} must return zoo.plugin_kit.{record_type.__name__} records, "
                f"got {type(record).__name__}"
            )
        record.check(plugin)
    return records


def _insert(table: dict[str, Registered], kind: str, name: str, record: Any, plugin: str, override: bool) -> None:
    if name in table:
        other, other_plugin = table[name].record, table[name].plugin
        other_override = bool(getattr(other, "override", False)) or (
            isinstance(other, ModelContribution) and bool(other.entry.get("override", False))
        )
        if override and not other_override:
            table[name] = Registered(record, plugin)
            return
        if other_override and not override:
            return
        raise PluginConflictError(
            f"{kind} {name!r} is contributed by both plugin {other_plugin!r} and plugin {plugin!r}. "
            "Uninstall or unregister one of them, or mark one contribution override=True."
        )
    table[name] = Registered(record, plugin)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


_manager: ZooPluginManager | None = None


def manager() -> ZooPluginManager:
    """The process-wide plugin manager, created (and plugins discovered) on first use."""
    global _manager
    if _manager is None:
        _manager = ZooPluginManager()
    return _manager


def reset() -> None:
    """Forget all plugins; the next `manager()` call discovers them again (env vars re-read)."""
    global _manager
    _manager = None


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object at run time; returns the name it is registered under."""
    return manager().register(plugin, name)


def unregister_plugin(name_or_plugin: Any) -> None:
    """Remove a plugin registered at run time (by name or object); its contributions go with it."""
    manager().unregister(name_or_plugin)


def get_component(kind: str, name: str) -> Any:
    """The Stem, Block, Head or DesignRule record registered as `name` (kind: stem, block, head, rule)."""
    if kind not in KINDS:
        raise UnknownComponentError(f"unknown component kind {kind!r}; the kinds are {', '.join(KINDS)}")
    return manager().get(kind, name)
