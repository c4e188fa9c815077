"""Data parallelism with jax.sharding: one mesh axis over every device of every process.

Parameters and optimizer state are replicated, batches are split along the batch axis, and
the same code runs on 1 or N devices and on 1 or N hosts (jax.distributed).
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from zoo.errors import DeviceError

AXIS = "data"


def data_mesh() -> Mesh:
    """A 1-D mesh over all devices of all processes."""
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(AXIS))


def check_batch_size(batch_size: int, mesh: Mesh, what: str = "batch_size") -> None:
    """The global batch must split evenly over the devices."""
    n = mesh.size
    if batch_size % n:
        lower, upper = batch_size - batch_size % n, batch_size + n - batch_size % n
        hint = f"{lower} or {upper}" if lower else f"{upper}"
        raise DeviceError(f"{what}={batch_size} is not a multiple of the {n} devices it is split over; use {hint}")


def place_batch(mesh: Mesh, *local_arrays: np.ndarray) -> tuple[jax.Array, ...]:
    """Global arrays sharded over the batch axis, from this process's slice of the batch."""
    sharding = batch_sharded(mesh)
    return tuple(jax.make_array_from_process_local_data(sharding, a) for a in local_arrays)


def replicate(mesh: Mesh, tree):
    """Put a pytree on every device (the same value everywhere)."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda a: jax.device_put(a, sharding), tree)


def distributed_settings(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> tuple[str, int, int] | None:
    """Multi-host settings from arguments, else JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
    JAX_PROCESS_ID; None when none is given (a single-process run)."""
    env = os.environ
    coordinator = coordinator or env.get("JAX_COORDINATOR_ADDRESS") or None
    num_processes = num_processes if num_processes is not None else _int_env("JAX_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _int_env("JAX_PROCESS_ID")
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if not any(given):
        return None
    if not all(given):
        raise DeviceError(
            "multi-host training needs all three of coordinator= (HOST:PORT), num_processes= and "
            "process_id= (or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID); got "
            f"coordinator={coordinator!r}, num_processes={num_processes!r}, process_id={process_id!r}"
        )
    assert coordinator is not None and num_processes is not None and process_id is not None  # all given
    host, colon, port = coordinator.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DeviceError(f"coordinator={coordinator!r} must be HOST:PORT with a port in 1..65535, e.g. 10.0.0.1:1234")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise DeviceError(f"process id {process_id} must lie in [0, {num_processes}) processes")
    return coordinator, num_processes, process_id


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise DeviceError(f"environment variable {name}={value!r} must be an integer") from None


def initialize_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> bool:
    """Join a multi-host run when settings are given; True when jax.distributed was started."""
    settings = distributed_settings(coordinator, num_processes, process_id)
    if settings is None or settings[1] == 1:
        return False
    address, count, index = settings
    try:
        jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=index)
    except RuntimeError as err:
        if "already" in str(err).lower():
            return True
        raise DeviceError(
            f"could not join the multi-host run at {address} as process {index} of {count}: {err}"
        ) from err
    return True
