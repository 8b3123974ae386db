"""Run an iterator one step ahead in a thread, so that producing and consuming overlap."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    """An error of the producing thread, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` while a thread already makes the next ``depth`` of them.

    Worth it when both sides wait on something else part of the time: the transform decodes and
    builds frames while the loader waits for the database. An error in the thread is raised
    here; a consumer that stops early stops the thread (it never blocks forever on a full
    queue).
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object) -> bool:
        # Waits in short steps, so that a consumer that stopped early is noticed.
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                ready.put(value, timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_Failure(error))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            value = ready.get()
            if value is _DONE:
                return
            if isinstance(value, _Failure):
                raise value.error
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
