"""A run's folder is the run's own: claimed with a lock, never written over unless the user says so.

`zoo train --out DIR` writes checkpoints, metrics and weights into DIR. A folder that already holds
files the run did not create (a saved model, someone's notes) is refused unless the user resumes or
passes overwrite=True, and two runs on one folder cannot interleave: the first holds an advisory
lock (released by the OS when its process dies, so a crash leaves no stale lock) and the second is
told the first one's pid.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from zoo.errors import CheckpointError

LOCK_NAME = ".zoo-train.lock"


class RunFolder:
    """The claim on one run folder; `release()` (or process exit) gives it up."""

    def __init__(self, out: Path, handle: IO[str]):
        self.out = out
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def claim_run_folder(out: str | os.PathLike, *, resume: bool, overwrite: bool) -> RunFolder:
    """Lock `out` for this process and check that this run may write there."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK_NAME, "a+")  # noqa: SIM115 - held open for the run's lifetime
    except OSError as err:
        raise CheckpointError(
            f"could not write the run folder at {out} ({type(err).__name__}: {err.strerror or err}); "
            "choose a writable --out directory"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise CheckpointError(
            f"another zoo train (pid {holder}) is writing to {out}; wait for it to finish or choose another --out"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    claim = RunFolder(out, handle)
    try:
        _check_may_write(out, resume=resume, overwrite=overwrite)
    except BaseException:
        claim.release()
        raise
    return claim


def _check_may_write(out: Path, *, resume: bool, overwrite: bool) -> None:
    others = sorted(p.name for p in out.iterdir() if p.name not in (LOCK_NAME, "checkpoints"))
    has_checkpoints = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    if resume:
        if not has_checkpoints:
            raise CheckpointError(
                f"nothing to resume in {out}: it holds no checkpoints of a run; drop --resume to start a new run"
            )
        return
    if has_checkpoints:
        return  # the loop says "pass --resume to continue it" with the checkpoint's step
    if others and not overwrite:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise CheckpointError(
            f"{out} already holds files this run did not write ({shown}); choose another --out, or pass "
            "--overwrite (overwrite=True) to let the run replace them"
        )
