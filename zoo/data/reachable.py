"""Whether a tfds dataset that is not prepared yet could be downloaded now, decided in about a second.

tensorflow-datasets retries a failed download ten times with growing back-off, so on a machine without
network `--dataset cifar10` used to spin for minutes before failing. Before any download starts, the
zoo checks the offline switches (HF_HUB_OFFLINE / ZOO_OFFLINE) and whether the dataset's host name
resolves; either failing ends at once with the ways to get the data there.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

OFFLINE_VARS = ("HF_HUB_OFFLINE", "ZOO_OFFLINE")
RESOLVE_SECONDS = 3.0  # a name lookup slower than this counts as no network


def offline() -> bool:
    """Whether downloads are switched off: HF_HUB_OFFLINE or ZOO_OFFLINE set truthy (the tests set the first)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


def resolves(host: str, timeout: float = RESOLVE_SECONDS) -> bool:
    """Whether `host` has an address within `timeout` seconds (getaddrinfo has no timeout of its own)."""
    found: list[bool] = []

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            found.append(False)
        else:
            found.append(True)

    worker = threading.Thread(target=look_up, daemon=True, name="zoo-resolve")
    worker.start()
    worker.join(timeout)
    return bool(found and found[0])


def download_blocker(homepage: str | None) -> str | None:
    """Why a download cannot happen now (offline switch, or the dataset's host does not resolve), or None."""
    if offline():
        switches = [v for v in OFFLINE_VARS if os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")]
        return f"downloads are off ({' and '.join(switches)} set)"
    host = urlparse(homepage or "").hostname
    if host and not resolves(host):
        return f"there is no network (the dataset's host {host} does not resolve)"
    return None


def not_prepared_message(name: str, data_dir: str, why: str) -> str:
    return (
        f"dataset {name!r} is not prepared in {data_dir} and cannot be downloaded: {why}. Prepare it once on a "
        f"machine with network (`zoo train MODEL --dataset {name} --epochs 1`, or `tfds build {name} "
        "--file_format array_record`) and copy the data directory here, pass --data-dir (data_dir=) where it is "
        "already prepared, or train on data that needs no download: --dataset digits, or --dataset folder:PATH"
    )
