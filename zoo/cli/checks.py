"""Flag types: every value a user types is checked while the command line is parsed, before work starts.

Each raises argparse.ArgumentTypeError, which the parser prints as one `zoo: error:` line naming
the flag. Settings the library checks itself (TrainConfig, fit's arguments) are left to it, so
there is one rule per setting; these cover what only the command line takes.
"""

from __future__ import annotations

import argparse
import os

from zoo.split_syntax import split_problem

NAME_MAX = 255  # the longest file name (one path component) common file systems take


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def seed(text: str) -> int:
    value = _int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text!r}")
    return value


def model_source(text: str) -> str:
    """A registry name, hf-hub:org/repo or a folder: non-empty, and no part longer than a file name can be."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a model name, hf-hub:org/repo or a folder, got ''")
    longest = max(text.replace(os.sep, "/").split("/"), key=len)
    if len(longest) > NAME_MAX:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r}... is {len(longest)} characters long in one part; names and file names stop at {NAME_MAX}"
        )
    return text


def dataset(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a dataset: digits, fashion_mnist, a tfds name or folder:PATH")
    return model_source(text)


def split(text: str) -> str:
    problem = split_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def image_size(text: str) -> int:
    """A side in pixels; 0 means the model's own (train's default)."""
    value = _int(text)
    if value != 0 and value < 4:
        raise argparse.ArgumentTypeError(f"expected a side of at least 4 pixels (or 0: the model's own), got {text!r}")
    return value


def coordinator(text: str) -> str:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port in 1..65535, got {text!r}")
    return text
