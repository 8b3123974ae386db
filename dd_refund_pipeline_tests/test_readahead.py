"""The read-ahead between the transform and the load: one step ahead, errors passed on."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dd_refund_pipeline.readahead import read_ahead


def test_read_ahead_yields_everything_in_order_and_raises_the_producers_error():
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("the transform broke")

    with pytest.raises(RuntimeError, match="the transform broke"):
        list(read_ahead(failing()))


def test_read_ahead_runs_one_step_ahead_and_stops_when_the_consumer_does():
    made: list[int] = []

    def produce() -> Iterator[int]:
        for n in range(1000):
            made.append(n)
            yield n

    reader = read_ahead(produce())
    assert next(reader) == 0
    deadline = time.monotonic() + 5
    while len(made) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(made) == 3  # item 0 handed out, 1 waiting in the queue, 2 made and held
    reader.close()  # the consumer stops: the thread ends instead of making the rest
    assert len(made) == 3
