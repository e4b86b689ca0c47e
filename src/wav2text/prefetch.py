"""Run a producer iterator on a background thread, a few items ahead of its consumer.

Decoding (FFmpeg) and resampling (soxr) release the GIL, so while the model works on one
window the next blocks are already being decoded: the model never waits on I/O.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Yield what `items` yields, produced up to `depth` items ahead on another thread.

    An exception in the producer is raised in the consumer at the point it occurred; a
    consumer that stops early stops the producer.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            buffer.put(_Failure(err))

    thread = threading.Thread(target=produce, name="wav2text-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
