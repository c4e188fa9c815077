"""Named models: registry.toml plus plugin contributions -> name -> ModelSpec.

The registry is data. Each entry names a design rule and its parameters (or lists its
stages) and overrides the file's [defaults]; this module only reads, checks and resolves.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo.errors import PluginConflictError, RegistryError, SpecError, UnknownModelError, did_you_mean
from zoo.spec import ModelSpec, StageSpec

REGISTRY_PATH = Path(__file__).with_name("registry.toml")

SPEC_FIELDS = frozenset(f.name for f in fields(ModelSpec))
ENTRY_FIELDS = SPEC_FIELDS | {"aliases", "description", "design", "pretrained", "override"}


@dataclass(frozen=True)
class Entry:
    """One named model as the registry describes it, before its design rule runs."""

    name: str
    source: str
    table: Mapping[str, Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    description: str = ""
    plugin: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}: [models.{self.name}]"

    def spec(self, plugins: Any = None) -> ModelSpec:
        """Expand the design rule and fill defaults into a validated ModelSpec."""
        if plugins is None:
            from zoo.plugins import manager

            plugins = manager()
        merged = {k: v for k, v in self.defaults.items() if k in SPEC_FIELDS}
        merged.update({k: v for k, v in self.table.items() if k in SPEC_FIELDS})
        if "design" in self.table:
            design = dict(self.table["design"])
            rule_name = design.pop("rule")
            rule = plugins.get("rule", rule_name, needed_by=f"model {self.name!r}")
            try:
                stages = rule.expand(design)
            except SpecError as err:
                raise SpecError(f"{self.where} field 'design': {err}") from None
            except Exception as err:
                raise SpecError(
                    f"{self.where} field 'design': rule {rule_name!r} failed: {type(err).__name__}: {err}"
                ) from err
            if not isinstance(stages, (list, tuple)) or not all(isinstance(s, StageSpec) for s in stages):
                raise SpecError(f"{self.where}: design rule {rule_name!r} must return a list of StageSpec")
            merged["stages"] = [s.to_dict() for s in stages]
        return ModelSpec.from_dict(merged, where=self.where)


def check_entry(name: str, table: Any, source: str) -> None:
    """Raise RegistryError (naming source, entry and field) unless `table` is a well-formed entry."""
    where = f"{source}: [models.{name}]"
    if not isinstance(table, Mapping):
        raise RegistryError(f"{where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - ENTRY_FIELDS)
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {unknown}; known fields are {sorted(ENTRY_FIELDS)}")
    has_design, has_stages = "design" in table, "stages" in table
    if has_design == has_stages:
        raise RegistryError(f"{where}: give exactly one of 'design' (a rule and its parameters) or 'stages'")
    if has_design:
        design = table["design"]
        if not isinstance(design, Mapping) or not isinstance(design.get("rule"), str):
            raise RegistryError(f"{where} field 'design' must be a table with a string 'rule' (e.g. rule = \"regnet\")")
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise RegistryError(f"{where} field 'aliases' must be a list of non-empty strings")
    if not isinstance(table.get("description", ""), str):
        raise RegistryError(f"{where} field 'description' must be a string")
    if not isinstance(table.get("options", {}), Mapping):
        raise RegistryError(f"{where} field 'options' must be a table")


def read_registry_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse and check a registry TOML file: returns ([defaults], [models])."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise RegistryError(f"cannot read registry file {path}: {err.strerror or err}") from None
    return parse_registry(text, str(path))


def parse_registry(text: str, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RegistryError(f"{source} is not valid TOML: {err}. Fix the file's syntax.") from None
    unknown = sorted(set(data) - {"defaults", "models"})
    if unknown:
        raise RegistryError(f"{source}: unknown top-level table(s) {unknown}; expected [defaults] and [models]")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise RegistryError(f"{source}: [defaults] must be a table")
    bad = sorted(set(defaults) - SPEC_FIELDS)
    if bad:
        raise RegistryError(f"{source}: [defaults] has unknown field(s) {bad}; known fields are {sorted(SPEC_FIELDS)}")
    models = data.get("models", {})
    if not isinstance(models, Mapping):
        raise RegistryError(f"{source}: [models] must be a table of model tables")
    for name, table in models.items():
        check_entry(name, table, source)
    return dict(defaults), dict(models)


@lru_cache(maxsize=4)
def _core_file(path: Path, mtime: float) -> tuple[dict[str, Any], dict[str, Any]]:
    return read_registry_file(path)


class Registry:
    """Name and alias lookup over the core file and every plugin's models."""

    def __init__(self, entries: list[Entry]):
        self.entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        for entry in entries:
            self.entries[entry.name] = entry
        for entry in entries:
            for alias in entry.aliases:
                self._aliases.setdefault(alias, entry.name)

    def resolve(self, name: str) -> Entry:
        if not isinstance(name, str):
            raise UnknownModelError(f"model names are strings, got {type(name).__name__} {name!r}")
        if name in self.entries:
            return self.entries[name]
        if name in self._aliases:
            return self.entries[self._aliases[name]]
        folded = {n.lower(): n for n in [*self.entries, *self._aliases]}
        if name.lower() in folded:
            return self.resolve(folded[name.lower()])
        raise UnknownModelError(
            f"unknown model {name!r}.{did_you_mean(name, [*self.entries, *self._aliases])} "
            "Run `zoo list` to see every model."
        )

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self.entries if fnmatch.fnmatchcase(n, pattern) or fnmatch.fnmatch(n, pattern.lower()))


def registry(plugins: Any = None) -> Registry:
    """The registry as it stands now: core registry.toml plus plugin entries."""
    if plugins is None:
        from zoo.plugins import manager

        plugins = manager()
    path = REGISTRY_PATH.resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise RegistryError(f"the core registry file {path} is missing; reinstall anynet-zoo") from None
    defaults, models = _core_file(path, mtime)
    entries = [_entry(name, table, str(path), defaults) for name, table in models.items()]
    core_names = set(models)
    for name, contribution in plugins.models().items():
        if name in core_names and not contribution.entry.get("override", False):
            raise PluginConflictError(
                f"model {name!r} is in the core registry and also contributed by plugin "
                f"{contribution.plugin!r}; rename it, or mark the entry override = true"
            )
        check_entry(name, contribution.entry, contribution.source)
        merged_defaults = {**defaults, **contribution.defaults}
        entry = _entry(name, contribution.entry, contribution.source, merged_defaults, contribution.plugin)
        entries = [e for e in entries if e.name != name] + [entry]
    return Registry(entries)


def _entry(
    name: str, table: Mapping[str, Any], source: str, defaults: Mapping[str, Any], plugin: str | None = None
) -> Entry:
    return Entry(
        name=name,
        source=source,
        table=table,
        defaults=defaults,
        aliases=tuple(table.get("aliases", ())),
        description=table.get("description", ""),
        plugin=plugin,
    )


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Model names matching a shell wildcard; with pretrained=True only those with weights."""
    reg = registry()
    names = reg.names(pattern)
    if pretrained:
        names = [n for n in names if reg.entries[n].table.get("pretrained")]
    return names


def get_spec(name: str) -> ModelSpec:
    """The ModelSpec of a named model (name or alias)."""
    return registry().resolve(name).spec()
