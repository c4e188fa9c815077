"""Every error a user can cause, in one place.

Each error's message says what was wrong, where, and what to do about it. All of them
derive from ZooError, so `except zoo.errors.ZooError` catches everything the zoo raises
on purpose.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class SpecError(ZooError, ValueError):
    """An architecture description breaks a rule (bad field value, incompatible widths)."""


class RegistryError(ZooError):
    """A registry file or registry entry is malformed."""


class UnknownModelError(ZooError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class UnknownComponentError(ZooError, KeyError):
    """A stem, block, head or design rule is named that no plugin provides."""

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class PluginError(ZooError):
    """A plugin could not be loaded or broke its contract."""


class PluginConflictError(PluginError):
    """Two plugins contribute the same name and neither marks an override."""


class ComponentContractError(PluginError, TypeError):
    """A component's factory or complexity function does not keep its documented contract."""


class PretrainedError(ZooError):
    """Pretrained weights were asked for that do not exist or cannot be used."""


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """The candidates nearest to `name`, for 'did you mean' hints."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean: a, b?' suffix, or '' when nothing is close."""
    hits = closest(name, candidates)
    return f" Did you mean: {', '.join(hits)}?" if hits else ""
