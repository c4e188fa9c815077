"""Package attributes that import their module on first use (PEP 562).

`import zoo` (and so the `zoo` command's start-up) must not load jax, flax or tfds before something
that needs them is touched. A package lists its public names and where they live; type checkers
read the same names from an `if TYPE_CHECKING:` block of plain imports beside the list.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str], modules: frozenset[str] = frozenset()) -> Callable:
    """Make `package.NAME` import `exports[NAME]` on first use; returns the package's `__getattr__`.

    `modules` are names exported as the submodule itself (`zoo.errors`). Every other name is a
    function or class, and keeps its name when a submodule of the same name loads (`zoo.predict`
    the function, not the module `zoo/predict.py`), as it did when the package imported eagerly.
    """
    target = sys.modules[package]

    def __getattr__(name: str) -> object:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(where)
        value = imported if name in modules else getattr(imported, name)
        setattr(target, name, value)  # resolved once
        return value

    class LazyPackage(types.ModuleType):
        def __setattr__(self, name: str, value: object) -> None:
            if name in exports and name not in modules and isinstance(value, types.ModuleType):
                return  # the import system binding a submodule that shares a public name
            super().__setattr__(name, value)

        def __dir__(self) -> list[str]:
            return sorted({*super().__dir__(), *exports})

    target.__class__ = LazyPackage
    return __getattr__
