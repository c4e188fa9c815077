"""Where tfds' messages go while the zoo prepares a dataset."""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator

_messages: contextvars.ContextVar[bool] = contextvars.ContextVar("zoo_prepare_messages", default=True)


def quiet_preparation() -> None:
    """Drop tfds' messages while preparing datasets from here on (`zoo train --quiet`)."""
    _messages.set(False)


@contextlib.contextmanager
def preparing() -> Iterator[None]:
    """tfds prints its preparation messages to stdout, which is for results (`zoo eval --json`):
    they go to stderr, or nowhere after quiet_preparation()."""
    with open(os.devnull, "w") if not _messages.get() else contextlib.nullcontext(sys.stderr) as target:
        with contextlib.redirect_stdout(target):
            yield
