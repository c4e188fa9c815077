"""Conv lowerings timed on the user's own CPU, as cuDNN's benchmark mode times its algorithms.

The static rule in conv_lowering (`choose`) was measured on one machine; which form is fastest for
a shape differs between CPUs (AVX2 against AVX-512 reversed several choices). So, on the CPU, the
first time a conv shape is traced each candidate form of it is compiled and timed, forward and
backward together, on that exact shape; the fastest is kept in a table on disk, keyed by this
machine's CPU, jax/jaxlib version and XLA flags, and every later trace (in any process) reads it.

    ZOO_CONV_TUNING=read    use the table's choice where it has one, else the static rule (default)
    ZOO_CONV_TUNING=cache   also time a shape missing from the table, on first use, and keep it
    ZOO_CONV_TUNING=always  time every shape again in this process (the table is rewritten)
    ZOO_CONV_TUNING=off     the static rule only

Timing is opt-in (`zoo tune MODEL`, or ZOO_CONV_TUNING=cache), as cuDNN's benchmark mode is: a
conv timed alone predicts its cost inside a compiled train step only roughly, and on the digits
job wins of a few percent timed alone made the step 1.5x slower (bench/NOTES.md 18). So a form
replaces the rule's pick only when timed at least MIN_GAIN faster.

Tuning is bounded: at most ZOO_CONV_TUNING_BUDGET seconds per shape (default 20; the static rule's
choice is timed first, so a budget of 0 keeps it), and each shape is timed once however many
blocks share it. `report()` says what was tuned and what it cost. The table lives beside the
compilation cache ($XDG_CACHE_HOME/anynet-zoo/conv-tuning/, or ZOO_CONV_TUNING_DIR). Every form
computes the same function (tests/test_conv_lowering.py), so tuning changes speed, never results
beyond float rounding.

This module knows nothing of the forms themselves: conv_lowering hands it each candidate as a
function, so the two never import each other in a cycle.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import platform
import statistics
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from zoo.atomic import atomic_write_text
from zoo.errors import ConvLoweringError

ENV = "ZOO_CONV_TUNING"
MODES = ("read", "cache", "always", "off")
BUDGET_ENV = "ZOO_CONV_TUNING_BUDGET"
DEFAULT_BUDGET_S = 20.0
DIR_ENV = "ZOO_CONV_TUNING_DIR"
REPEATS = 3  # timed runs per candidate after one warm-up; the median counts
# A form replaces the static rule's pick only when timed at least this much faster (bench/NOTES.md 18:
# smaller wins, timed alone, made a whole train step 1.5x slower).
MIN_GAIN = 1.25
TABLE_VERSION = 1


_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("zoo_conv_tuning_mode", default=None)


def mode() -> str:
    forced = _forced.get()
    if forced is not None:
        return forced
    value = os.environ.get(ENV, "read").strip().lower() or "read"
    if value not in MODES:
        raise ConvLoweringError(f"{ENV}={value!r} is not a tuning mode; choose one of {', '.join(MODES)}")
    return value


def budget_s() -> float:
    text = os.environ.get(BUDGET_ENV, "")
    try:
        value = float(text) if text else DEFAULT_BUDGET_S
    except ValueError:
        raise ConvLoweringError(f"{BUDGET_ENV}={text!r} must be a number of seconds per conv shape") from None
    if not value >= 0:
        raise ConvLoweringError(f"{BUDGET_ENV}={text!r} must be >= 0 seconds")
    return value


def machine_key() -> str:
    """What a timing depends on besides the shape: the CPU (model and instruction sets), the
    jax/jaxlib version and XLA's flags. A table measured on another machine is never read."""
    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine()):
                cpu = line.partition(":")[2].strip()
            if line.startswith("flags"):
                flags = " ".join(sorted(line.partition(":")[2].split()))
                break
    except OSError:
        pass
    import jaxlib

    parts = [cpu, flags, jax.__version__, jaxlib.__version__, os.environ.get("XLA_FLAGS", ""), str(os.cpu_count())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def table_path() -> Path:
    folder = os.environ.get(DIR_ENV)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = str(Path(base) / "anynet-zoo" / "conv-tuning")
    return Path(folder) / f"{machine_key()}.json"


@dataclass(frozen=True)
class Tuned:
    """One shape timed in this process: the form kept, each candidate's fwd+bwd seconds, the cost."""

    key: str
    form: str
    seconds: dict[str, float]
    static: str
    cost_s: float


@dataclass
class _Table:
    path: Path | None = None
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuned: list[Tuned] = field(default_factory=list)
    reported: int = 0  # how many of `tuned` a summary line has shown
    used: dict[str, str] = field(default_factory=dict)  # every tunable shape traced here -> its form


_lock = threading.Lock()
_table = _Table()
_recorder: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("zoo_conv_recorder", default=None)


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        warnings.warn(f"conv tuning table {path} is unreadable ({err}); shapes are timed again", stacklevel=3)
        return {}
    if not isinstance(data, dict) or data.get("version") != TABLE_VERSION or not isinstance(data.get("shapes"), dict):
        return {}
    return {k: v for k, v in data["shapes"].items() if isinstance(v, dict) and isinstance(v.get("form"), str)}


def _entries() -> dict[str, dict[str, Any]]:
    path = table_path()
    if _table.path != path:
        _table.path, _table.entries = path, _load(path)
    return _table.entries


def _save() -> None:
    assert _table.path is not None
    on_disk = _load(_table.path)  # another process may have tuned other shapes meanwhile
    on_disk.update(_table.entries)
    _table.entries = on_disk
    try:
        atomic_write_text(_table.path, json.dumps({"version": TABLE_VERSION, "shapes": on_disk}, indent=1) + "\n")
    except OSError as err:
        warnings.warn(f"could not save conv tuning table {_table.path} ({err}); kept for this process", stacklevel=3)


def form_for(
    key: str,
    candidates: Sequence[str],
    static: str,
    build: Callable[[str], Callable],
    operands: Callable[[], tuple[np.ndarray, ...]],
) -> str:
    """The form to trace for the conv shape `key`: the table's, else the fastest candidate timed now.

    `build(form)` returns the conv as a function of (lhs, rhs) with that form; `operands()` makes
    (lhs, rhs, cotangent) arrays of the shape. The caller applies this only on the CPU.
    """
    chosen = mode()
    if chosen == "off" or len(candidates) < 2:
        return static
    form = _form_for(key, candidates, static, build, operands, chosen)
    recorder = _recorder.get()
    if recorder is not None:
        recorder[key] = form
    return form


def _form_for(key, candidates, static, build, operands, chosen: str) -> str:
    with _lock:
        entries = _entries()
        fresh = chosen == "always" and all(t.key != key for t in _table.tuned)
        known = entries.get(key)
        if known is not None and not fresh and known["form"] in candidates:
            _table.used[key] = known["form"]
            return known["form"]
        if chosen == "read":
            return static
        result = _time(key, candidates, static, build, operands)
        entries[key] = {"form": result.form, "seconds": result.seconds}
        _table.tuned.append(result)
        _table.used[key] = result.form
        _save()
        return result.form


def _time(key, candidates, static, build, operands) -> Tuned:
    start = time.perf_counter()
    budget = budget_s()
    with jax.ensure_compile_time_eval():
        lhs, rhs, cotangent = operands()
        seconds: dict[str, float] = {}
        for form in [static, *(c for c in candidates if c != static)]:
            if seconds and time.perf_counter() - start > budget:
                break
            conv = build(form)
            both = jax.jit(lambda x, w, conv=conv: jax.vjp(conv, x, w)[1](cotangent)).lower(lhs, rhs).compile()
            t0 = time.perf_counter()
            jax.block_until_ready(both(lhs, rhs))  # warm-up
            warm = time.perf_counter() - t0
            if seconds and warm > 3 * min(seconds.values()):
                seconds[form] = warm  # far slower than the best already: not worth timing again
                continue
            runs = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                jax.block_until_ready(both(lhs, rhs))
                runs.append(time.perf_counter() - t0)
            seconds[form] = statistics.median(runs)
    form = min(seconds, key=seconds.__getitem__)
    if static in seconds and seconds[static] < MIN_GAIN * seconds[form]:
        form = static  # within timing noise of the rule's pick: a timed-alone win this small can be a loss in a step
    return Tuned(key, form, seconds, static, time.perf_counter() - start)


def report() -> list[Tuned]:
    """The shapes timed in this process so far (empty when every shape came from the table)."""
    with _lock:
        return list(_table.tuned)


@contextlib.contextmanager
def timing() -> Iterator[None]:
    """Time missing shapes inside the block (`zoo tune`), whatever the default; ZOO_CONV_TUNING=off
    and =always are kept as set."""
    token = _forced.set("cache" if mode() == "read" else mode())
    try:
        yield
    finally:
        _forced.reset(token)


@contextlib.contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Collect the tunable conv shapes traced inside the block, with the form each got."""
    found: dict[str, str] = {}
    token = _recorder.set(found)
    try:
        yield found
    finally:
        _recorder.reset(token)


def unreported() -> list[Tuned]:
    """The shapes timed since the last call: what a run tells its user it spent on tuning."""
    with _lock:
        fresh = _table.tuned[_table.reported :]
        _table.reported = len(_table.tuned)
        return list(fresh)


def used() -> dict[str, str]:
    """Every tunable conv shape traced in this process so far, and the form it got."""
    with _lock:
        return dict(_table.used)


def summary(tuned: Sequence[Tuned]) -> str:
    """One line for a user waiting on a first compile: how many shapes were timed, the cost, where kept."""
    cost = sum(t.cost_s for t in tuned)
    return (
        f"timed the conv lowerings of {len(tuned)} new shape(s) on this CPU in {cost:.1f} s, kept in "
        f"{table_path()} (later runs read it; {ENV}=read, the default, never times)"
    )


def forget() -> None:
    """Drop what this process holds (the table on disk stays): the next trace reads the table again."""
    with _lock:
        _table.path, _table.entries, _table.tuned, _table.used, _table.reported = None, {}, [], {}, 0
