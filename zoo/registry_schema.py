"""The schema of a registry table: what registry.toml and a plugin's models may contain.

It sits below the plugin manager, which checks each plugin's models with it as they arrive,
and the registry, which resolves them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from zoo.errors import RegistryError, reject_unknown
from zoo.paths import regular_file
from zoo.spec import ModelSpec

SPEC_FIELDS = frozenset(f.name for f in fields(ModelSpec))
# A model name or alias: it becomes part of file and folder names (runs, caches), so it is short and plain.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
ENTRY_FIELDS = SPEC_FIELDS | {"aliases", "description", "design", "pretrained", "override"}


def check_entry(name: str, table: Any, source: str) -> None:
    """Raise RegistryError (naming source, entry and field) unless `table` is a well-formed entry."""
    where = f"{source}: [models.{name}]"
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise RegistryError(
            f"{source}: model name {name!r} is not allowed: use 1-100 letters, digits, '_', '.', '+' or '-', "
            "starting with a letter or digit"
        )
    if not isinstance(table, Mapping):
        raise RegistryError(f"{where} must be a table, got {type(table).__name__}")
    reject_unknown(table, ENTRY_FIELDS, where, RegistryError)
    has_design, has_stages = "design" in table, "stages" in table
    if has_design == has_stages:
        raise RegistryError(f"{where}: give exactly one of 'design' (a rule and its parameters) or 'stages'")
    if has_design:
        design = table["design"]
        if not isinstance(design, Mapping) or not isinstance(design.get("rule"), str):
            raise RegistryError(f"{where} field 'design' must be a table with a string 'rule' (e.g. rule = \"regnet\")")
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and MODEL_NAME.match(a) for a in aliases):
        raise RegistryError(
            f"{where} field 'aliases' must be a list of model names (1-100 letters, digits, '_', '.', '+', '-')"
        )
    if not isinstance(table.get("description", ""), str):
        raise RegistryError(f"{where} field 'description' must be a string")
    if not isinstance(table.get("options", {}), Mapping):
        raise RegistryError(f"{where} field 'options' must be a table")


def read_registry_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse and check a registry TOML file: returns ([defaults], [models])."""
    try:
        text = regular_file(path, what="registry file", error=RegistryError).read_text(encoding="utf-8")
    except OSError as err:
        raise RegistryError(f"cannot read registry file {path}: {err.strerror or err}") from None
    return parse_registry(text, str(path))


def parse_registry(text: str, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RegistryError(f"{source} is not valid TOML: {err}. Fix the file's syntax.") from None
    reject_unknown(data, ("defaults", "models"), source, RegistryError, what="top-level table")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise RegistryError(f"{source}: [defaults] must be a table")
    reject_unknown(defaults, SPEC_FIELDS, f"{source}: [defaults]", RegistryError)
    models = data.get("models", {})
    if not isinstance(models, Mapping):
        raise RegistryError(f"{source}: [models] must be a table of model tables")
    for name, table in models.items():
        check_entry(name, table, source)
    return dict(defaults), dict(models)
