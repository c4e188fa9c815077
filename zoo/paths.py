"""What the zoo may read or publish: regular files, and for a folder, only files that stay inside it.

A FIFO or device given where a file belongs would block a read forever, and a link in a folder can
point at a private file elsewhere; both are refused before any byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


def inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` itself (not what it points to) lies under `folder`, spelled absolutely."""
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return False
    return True


def regular_file(path: str | os.PathLike, *, what: str, error: type[ZooError]) -> Path:
    """`path`, if it is (or links to) a regular file; else `error` naming it. Never opens the file."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"cannot read {what} {path}: it does not exist") from None
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise error(f"{what} {path} is {kind}; give the path of a regular file")
    return path


def file_in_folder(folder: str | os.PathLike, name: str, *, what: str, error: type[ZooError]) -> Path:
    """`folder/name` as a regular file whose real location is inside `folder` (links within it are fine)."""
    path = Path(folder) / name
    target = path.resolve()
    if not inside(target, Path(folder).resolve()):
        raise error(
            f"{what} {path} is a link to {target}, outside {folder}; the zoo publishes only files inside the "
            "folder: copy the file in if you mean to publish it"
        )
    return regular_file(path, what=what, error=error)


# 8192 x 8192: far above any input a model here takes, far below what a decompression bomb claims.
MAX_IMAGE_PIXELS = 1 << 26


def open_image(path: str | os.PathLike, *, error: type[ZooError]) -> Any:
    """A lazily opened PIL image of a regular file whose header claims a sane size (a bomb never decodes)."""
    from PIL import Image, UnidentifiedImageError

    regular_file(path, what="image", error=error)
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as err:
        raise error(f"image {path} is a decompression bomb ({err}); it was not decoded") from None
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise error(f"image {path} cannot be read ({err}); give a PNG, JPEG or other PIL format") from None
    pixels = image.width * image.height
    if pixels > MAX_IMAGE_PIXELS:
        image.close()
        raise error(
            f"image {path} claims {image.width}x{image.height} pixels ({pixels / 1e6:.0f} M), more than the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} M the zoo decodes (a decompression bomb, or a scan to shrink first); "
            "it was not decoded"
        )
    return image
