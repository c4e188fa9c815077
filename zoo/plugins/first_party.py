"""Which first-party plugin brings a name, for the hint an error gives when it is not installed.

The table is data (first_party.toml beside this module); the zoo never imports a plugin.
"""

from __future__ import annotations

import fnmatch
import tomllib
from functools import cache
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("first_party.toml")
KIND_KEYS = {"model": "models", "stem": "stems", "block": "blocks", "head": "heads", "rule": "rules"}


@cache
def _table() -> dict[str, dict[str, list[str]]]:
    return tomllib.loads(TABLE_PATH.read_text(encoding="utf-8"))


def install_hint(kind: str, name: str) -> str:
    """' It comes with the first-party plugin X (pip install ./plugins/X).', or '' when no known plugin has it."""
    key = KIND_KEYS.get(kind)
    for plugin, brings in _table().items():
        patterns = brings.get(key, []) if key else []
        if any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns):
            return f" It comes with the first-party plugin {plugin} (pip install ./plugins/{plugin})."
    return ""
