"""Training checkpoints with orbax: model, optimizer state, step, RNG and data position.

Orbax writes each checkpoint into a temporary directory and renames it into place when
complete, so a crash mid-write leaves the previous checkpoint intact. A checkpoint that
cannot be read back raises CheckpointError naming the directory to delete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from zoo.errors import CheckpointError


class Checkpoints:
    """The checkpoints of one run, under DIR/checkpoints/<step>/{state,meta}."""

    def __init__(self, directory: str | os.PathLike, *, keep: int = 2):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Save and wait until the checkpoint is committed to disk."""
        self._manager.save(
            step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True
        )
        self._manager.wait_until_finished()

    def restore(self, like: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """The state (shaped and sharded like `like`) and metadata of a checkpoint, latest by default."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; train without --resume to start a run")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        where = self.directory / str(step)
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
            )
        except Exception as err:  # noqa: BLE001 - orbax and tensorstore raise many types for one cause
            raise CheckpointError(
                f"checkpoint {where} is corrupt or incomplete ({type(err).__name__}: {str(err)[:300]}); "
                f"delete {where} to resume from the previous checkpoint, or start again without --resume"
            ) from err
        state, meta = restored["state"], restored["meta"]
        if meta is None or not isinstance(meta, dict) or "position" not in meta:
            raise CheckpointError(f"checkpoint {where} has no readable metadata; delete it and resume again")
        return state, meta

    def close(self) -> None:
        self._manager.close()
