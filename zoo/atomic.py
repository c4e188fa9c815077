"""The one way the zoo writes a file: atomically and durably.

The bytes go to a temp file in the target's own folder (so os.replace never crosses a file
system), the file is fsync'd, os.replace swaps it in, and the folder is fsync'd so the new
name survives a power cut. A crash at any moment leaves the old file or the new one, never
half of either. Weights, config.json, training reports, sweep tables and plots all write here.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it; Python has no read-only call)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _fsync(path: str | os.PathLike, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename inside `folder` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        _fsync(folder, os.O_RDONLY)
    except OSError:
        pass


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside `path`; write it inside the block, and it replaces `path` only if the block
    succeeds. The temp name ends with the target's suffix, so writers that infer a format from it work."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; files are shared as open() would make them
        _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
