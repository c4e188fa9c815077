"""Training checkpoints with orbax: model, optimizer state, step, RNG and data position.

Orbax writes each checkpoint into a temporary directory and renames it into place when
complete, so a crash mid-write leaves the previous checkpoint intact. A checkpoint that
cannot be read back raises CheckpointError naming the directory to delete.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from zoo.errors import CheckpointError, NonFiniteLossError
from zoo.train.steps import all_finite


class Checkpoints:
    """The checkpoints of one run, under DIR/checkpoints/<step>/{state,meta}."""

    def __init__(self, directory: str | os.PathLike, *, keep: int = 2):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        with _absl_errors_silenced():
            self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))
        self._closed = False

    def latest_step(self) -> int | None:
        with _absl_errors_silenced():
            return self._manager.latest_step()

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Save and wait until the checkpoint is committed to disk; a failed write (disk full, read-only)
        raises CheckpointError and leaves the previous checkpoints as they were."""
        last = self.latest_step()
        try:
            with _absl_errors_silenced():
                self._manager.save(
                    step,
                    args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                    force=True,
                )
                self._manager.wait_until_finished()
        except Exception as err:  # noqa: BLE001 - orbax and tensorstore wrap the OS error in many types
            self._remove_partial()
            kept = (
                f"the last good checkpoint is step {last} in {self.directory}; free space (or fix the permissions) "
                "and run the same command with resume=True"
                if last is not None
                else "no checkpoint had been saved yet; free space (or choose another out_dir=) and start again"
            )
            raise CheckpointError(
                f"could not write checkpoint {self.directory / str(step)} ({cause(err)}); {kept}"
            ) from err

    def _remove_partial(self) -> None:
        """Delete the temporary directory of a failed save, so the space it took is free again."""
        for path in self.directory.glob("*.orbax-checkpoint-tmp*"):  # the run holds the folder's lock
            shutil.rmtree(path, ignore_errors=True)

    def read_meta(self, step: int | None = None) -> dict[str, Any] | None:
        """The metadata of a checkpoint (latest by default) without its arrays, so a resume can compare
        settings before restoring: a state of another shape (EMA on in one run, off in the other) then
        fails as a settings mismatch, not as a "corrupt" checkpoint the user is told to delete."""
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        try:
            with _absl_errors_silenced():
                meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception:  # noqa: BLE001 - unreadable metadata is reported by restore() with its remedy
            return None
        return meta if isinstance(meta, dict) else None

    def restore(self, like: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """The state (shaped and sharded like `like`) and metadata of a checkpoint, latest by default."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; train without resume=True to start a run")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        where = self.directory / str(step)
        try:
            with _absl_errors_silenced():
                restored = self._manager.restore(
                    step,
                    args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
                )
        except Exception as err:  # noqa: BLE001 - orbax and tensorstore raise many types for one cause
            raise CheckpointError(
                f"checkpoint {where} is corrupt or incomplete ({cause(err)}); "
                f"delete {where} to resume from the previous checkpoint, or start again without resume=True"
            ) from err
        state, meta = restored["state"], restored["meta"]
        if meta is None or not isinstance(meta, dict) or "position" not in meta:
            raise CheckpointError(f"checkpoint {where} has no readable metadata; delete it and resume again")
        return state, meta

    def close(self) -> None:
        """Wait for a pending save; a temporary folder still there was never committed (a save cut off
        by Ctrl-C or a crash), so it goes: the last checkpoint is the last whole one."""
        if not self._closed:
            self._closed = True
            self._manager.close()
            self._remove_partial()


@contextlib.contextmanager
def _absl_errors_silenced() -> Iterator[None]:
    """Orbax logs each failed write or read (with a traceback from its threads); the CheckpointError
    raised in its place says it once."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def cause(err: BaseException, limit: int = 200) -> str:
    """One line for an error: the OS error at its root when there is one (disk full, permission),
    else its own first line, shortened at a word boundary (never mid-word)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    link: BaseException | None = err
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        chain.append(link)
        link = link.__cause__ or link.__context__
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return f"{errno.errorcode.get(e.errno or 0, type(e).__name__)}: {e.strerror}"
        code = re.search(r"os_error_code='(\d+)'", str(e))  # tensorstore's report of an OS error
        if code:
            number = int(code.group(1))
            return f"{errno.errorcode.get(number, 'OSError')}: {os.strerror(number)}"
    first = chain[0]
    lines = [line.strip() for line in str(first).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return f"{type(first).__name__}: {text}" if text else type(first).__name__


@contextlib.contextmanager
def writing(path: Path, what: str, checkpoints: Checkpoints | None) -> Iterator[None]:
    """Turn an OSError while writing `what` at `path` into a one-line CheckpointError with the remedy."""
    try:
        yield
    except OSError as err:
        kept = ""
        if checkpoints is not None and (last := checkpoints.latest_step()) is not None:
            kept = f"; the last good checkpoint is step {last} in {checkpoints.directory}, and resume=True continues from it"
        raise CheckpointError(
            f"could not write {what} at {path} ({type(err).__name__}: {err.strerror or err}); "
            f"free space or choose a writable out_dir={kept}"
        ) from err


_finite = jax.jit(all_finite)


def kept_note(checkpoints: Checkpoints | None) -> str:
    """Where the last good checkpoint is, for an error that stops a run."""
    if checkpoints is None:
        return "No checkpoint was kept (no out_dir=)."
    last = checkpoints.latest_step()
    if last is None:
        return f"No checkpoint had been saved yet in {checkpoints.directory}."
    return f"The last good checkpoint is step {last} in {checkpoints.directory}; resume=True continues from it."


def checkpoint(checkpoints: Checkpoints | None, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Save `state` at `step` with `meta` (position, history, config), refusing weights gone NaN/inf
    (so the last good checkpoint stays the latest)."""
    if checkpoints is None:
        return
    if not bool(_finite(state.params)):
        raise NonFiniteLossError(f"parameters became NaN/inf by step {step}; " + kept_note(checkpoints))
    checkpoints.save(step, state, meta)
