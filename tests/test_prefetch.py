"""prefetch: same items, same errors, and a producer that stops when the consumer does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from wav2text.prefetch import prefetch


def test_yields_the_same_items_in_order() -> None:
    assert list(prefetch(range(1000), depth=3)) == list(range(1000))


def test_producer_error_reaches_the_consumer_in_place() -> None:
    def broken() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("decoder broke")

    got = []
    with pytest.raises(ValueError, match="decoder broke"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1, 2]


def test_runs_ahead_on_another_thread() -> None:
    produced: list[str] = []

    def source() -> Iterator[int]:
        for i in range(3):
            produced.append(threading.current_thread().name)
            yield i

    stream = prefetch(source(), depth=8)
    assert next(stream) == 0
    time.sleep(0.2)
    assert len(produced) == 3 and set(produced) == {"wav2text-prefetch"}
    assert list(stream) == [1, 2]


def test_consumer_stopping_early_stops_the_producer() -> None:
    made = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            made.append(i)
            yield i
            i += 1

    stream = prefetch(endless(), depth=2)
    assert next(stream) == 0
    stream.close()
    time.sleep(0.5)
    count = len(made)
    time.sleep(0.3)
    assert len(made) == count <= 5
