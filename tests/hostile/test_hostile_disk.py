"""A checkpoint that cannot be written (the disk fills mid-write) leaves no `*.orbax-checkpoint-tmp*`
folder behind to keep the disk full, and the checkpoints before it intact (issue 19, item 1).

The disk "fills" through the process's file-size limit (RLIMIT_FSIZE; writes past it fail with EFBIG,
as they fail with ENOSPC on a full disk), so orbax and tensorstore write and fail for real, with no root
and no mount, and name their temporary folder as the installed orbax does.
"""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Iterator

import jax.numpy as jnp
import numpy as np
import pytest

from zoo.errors import CheckpointError
from zoo.train.checkpoint import Checkpoints


@contextlib.contextmanager
def files_capped_at(size: int) -> Iterator[None]:
    """No file of this process may grow past `size` bytes (SIGXFSZ ignored, so the write fails instead)."""
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def state(n: int, seed: int) -> dict[str, jnp.ndarray]:
    return {"w": jnp.asarray(np.random.default_rng(seed).random(n, dtype=np.float32))}  # incompressible


@pytest.mark.parametrize("earlier", [0, 2], ids=["first checkpoint", "after two good ones"])
def test_a_checkpoint_that_fills_the_disk_leaves_no_temporary_folder(tmp_path, earlier):
    checkpoints = Checkpoints(tmp_path / "checkpoints", keep=3)
    for step in range(1, earlier + 1):
        checkpoints.save(step, state(256, step), {"position": {"epoch": step, "batch": 0}})

    with files_capped_at(64 << 10), pytest.raises(CheckpointError, match="could not write checkpoint"):
        checkpoints.save(10, state(1 << 18, 10), {"position": {"epoch": 10, "batch": 0}})  # 1 MiB of weights

    left = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert left == [str(s) for s in range(1, earlier + 1)]  # no "10.orbax-checkpoint-tmp" keeps the space
    assert checkpoints.latest_step() == (earlier or None)
    if earlier:
        restored, meta = checkpoints.restore(state(256, 0))
        np.testing.assert_array_equal(np.asarray(restored["w"]), np.asarray(state(256, earlier)["w"]))
        assert meta["position"]["epoch"] == earlier
    checkpoints.close()
