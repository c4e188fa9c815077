"""Run an iterator ahead in a background thread so input work overlaps the train step."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class Prefetch(Iterator[T]):
    """Yields the items of `items`, producing up to `size` of them ahead; errors re-raise here."""

    def __init__(self, items: Iterable[T], size: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(items),), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it: Iterator[T]) -> None:
        try:
            for item in it:
                if not self._put((True, item)):
                    return
            self._put((True, _DONE))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            self._put((False, err))

    def __next__(self) -> T:
        ok, item = self._queue.get()
        if not ok:
            self.close()
            raise item
        if item is _DONE:
            self.close()
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()

    def __del__(self) -> None:
        self._stop.set()
