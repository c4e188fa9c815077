"""Named models: registry.toml plus plugin contributions -> name -> ModelSpec.

The registry is data. Each entry names a design rule and its parameters (or lists its
stages) and overrides the file's [defaults]; this module only reads, checks and resolves.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo.errors import PluginConflictError, RegistryError, SpecError, UnknownModelError, did_you_mean
from zoo.plugins import manager
from zoo.plugins.first_party import install_hint
from zoo.registry_schema import SPEC_FIELDS, check_entry, read_registry_file
from zoo.spec import ModelSpec, StageSpec

REGISTRY_PATH = Path(__file__).with_name("registry.toml")


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
            f"unknown model {name!r}.{did_you_mean(name, [*self.entries, *self._aliases])}"
            f"{install_hint('model', name)} Run `zoo list` to see every model."
        )

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self.entries if fnmatch.fnmatchcase(n, pattern) or fnmatch.fnmatch(n, pattern.lower()))


_last: tuple[Any, int, float, Registry] | None = None  # (plugin manager, its generation, file mtime, registry)


def registry(plugins: Any = None) -> Registry:
    """The registry as it stands now: core registry.toml plus plugin entries, built once per plugin
    generation (a plugin registered or dropped, or registry.toml edited, builds it again)."""
    global _last
    if plugins is None:
        plugins = manager()
    path = REGISTRY_PATH.resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise RegistryError(f"the core registry file {path} is missing; reinstall anynet-zoo") from None
    contributions = plugins.models()  # may drop a failing plugin, which bumps nothing: read the generation after
    generation = getattr(plugins, "generation", None)
    if _last is not None and _last[0] is plugins and generation is not None and _last[1:3] == (generation, mtime):
        return _last[3]
    built = build_registry(path, mtime, contributions)
    if generation is not None:
        _last = (plugins, generation, mtime, built)
    return built


def build_registry(path: Path, mtime: float, contributions: Mapping[str, Any]) -> Registry:
    """The core file's entries with the plugins' contributions merged in, checked."""
    defaults, models = _core_file(path, mtime)
    entries = [_entry(name, table, str(path), defaults) for name, table in models.items()]
    core_names = set(models)
    for name, contribution in contributions.items():
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


def list_pretrained(pattern: str = "*") -> list[str]:
    """Every pretrained tag as 'name.tag', sorted, matching a shell wildcard as timm's list_pretrained
    does: a pattern without a '.' matches the model name with any tag ('regnetx32' -> 'regnetx32.*')."""
    patterns = [pattern] if "." in pattern else [pattern, pattern + ".*"]
    reg = registry()
    found = (f"{name}.{tag}" for name, entry in reg.entries.items() for tag in entry.table.get("pretrained", {}))
    return sorted(
        full
        for full in found
        if any(fnmatch.fnmatchcase(full, p) or fnmatch.fnmatch(full, p.lower()) for p in patterns)
    )


def get_spec(name: str) -> ModelSpec:
    """The ModelSpec of a named model (name or alias)."""
    return registry().resolve(name).spec()
