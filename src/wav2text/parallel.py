"""Many files on every core: worker processes, each with its own copy of the model and one
share of the cores, files handed out in order and outcomes given back in input order.

Processes, not threads: a small model's time is mostly Python (VAD, decoding, the LM's
beam search), which threads would take turns on (measured: benchmarks/bench_batch.py). A
worker is started with "spawn" (a fork would inherit torch's thread pools mid-use) and
loads its own model, seconds during which this process works alone.
"""

from __future__ import annotations

import signal
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from multiprocessing.pool import AsyncResult
from typing import Any, Protocol

from .options import ModelOptions, TranscribeOptions
from .results import Transcript


class Local(Protocol):
    """What this module needs of a Transcriber (wav2text.pipeline, which calls it): its
    model options, to load the same model in each worker, and one-process transcription."""

    options: ModelOptions

    def transcribe_many(
        self, sources: Iterable[Any], options: TranscribeOptions | None = None, workers: int = 1
    ) -> Iterator[Transcript | Exception]: ...


MAX_BUFFERED = 64  # finished outcomes held for order's sake before waiting on the oldest
QUEUED_PER_WORKER = 2  # a worker has its next input before it finishes one: this process,
# busy with an input of its own, would otherwise leave it idle (measured: bench_batch.py)

_worker: Local | None = None


def outcomes_in_processes(
    local: Local,
    sources: Iterable[str],
    options: TranscribeOptions,
    workers: int,
) -> Iterator[Transcript | Exception]:
    """transcribe_many's outcomes, one per source (paths), in order, from this process and
    `workers - 1` more, one CPU thread each. This process starts at once while the others
    load the model; an input goes to a loaded worker with fewer than QUEUED_PER_WORKER
    waiting, else is done here, so the batch is never held up by the workers' start."""
    import multiprocessing

    import torch

    options = replace(options, progress=None)  # a callable cannot cross to a process
    context = multiprocessing.get_context("spawn")
    ready = context.Value("i", 0)
    model = replace(local.options, threads=1)
    pool = context.Pool(workers - 1, _start, (type(local), model, ready))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    slots: deque[Any] = deque()  # in input order: an AsyncResult, or an outcome
    try:
        for source in sources:
            busy = sum(1 for slot in slots if isinstance(slot, AsyncResult) and not slot.ready())
            if busy < QUEUED_PER_WORKER * ready.value:
                slots.append(pool.apply_async(_transcribe, (source, options)))
            else:
                slots.append(next(local.transcribe_many([source], options)))
            while slots and (_finished(slots[0]) or len(slots) > MAX_BUFFERED):
                yield _outcome(slots.popleft())
        while slots:
            yield _outcome(slots.popleft())
        pool.close()
    finally:
        torch.set_num_threads(threads)
        pool.terminate()  # Ctrl-C, or a caller that stopped early: nothing left running
        pool.join()


def _finished(slot: Any) -> bool:
    return not isinstance(slot, AsyncResult) or slot.ready()


def _outcome(slot: Any) -> Transcript | Exception:
    return slot.get() if isinstance(slot, AsyncResult) else slot


def _start(kind: type[Local], model: ModelOptions, ready: Any) -> None:
    """A worker's start: the caller's Transcriber class (passed by reference) loads the
    model."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parent said what there was to say
        _worker = kind(model)  # type: ignore[call-arg]
    with ready.get_lock():
        ready.value += 1


def _transcribe(source: str, options: TranscribeOptions) -> Transcript | Exception:
    assert _worker is not None
    return next(_worker.transcribe_many([source], options))
