"""Many files on every core: worker processes, each with its own copy of the model and one
share of the cores, files handed out in order and outcomes given back in input order.

Processes, not threads: a small model's time is mostly Python (VAD, decoding, the LM's
beam search), which threads would take turns on (measured: benchmarks/bench_batch.py). A
worker is started with "spawn" (a fork would inherit torch's thread pools mid-use), so it
pays one model load; the CLI uses workers only for batches large enough to repay that.
"""

from __future__ import annotations

import signal
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .options import ModelOptions, TranscribeOptions
from .results import Transcript

if TYPE_CHECKING:
    from .pipeline import Transcriber

IN_FLIGHT_PER_WORKER = 2  # inputs handed out ahead: workers never wait, memory stays bounded

_worker: Transcriber | None = None


def outcomes_in_processes(
    model: ModelOptions,
    sources: Iterable[str],
    options: TranscribeOptions,
    workers: int,
    threads: int = 1,
) -> Iterator[Transcript | Exception]:
    """transcribe_many's outcomes, one per source (paths), computed by `workers` processes
    of `threads` CPU threads each."""
    import multiprocessing

    options = replace(options, progress=None)  # a callable cannot cross to a process
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(workers, _start, (replace(model, threads=threads),))
    try:
        waiting: deque[Any] = deque()
        for source in sources:
            waiting.append(pool.apply_async(_transcribe, (source, options)))
            if len(waiting) >= IN_FLIGHT_PER_WORKER * workers:
                yield waiting.popleft().get()
        while waiting:
            yield waiting.popleft().get()
        pool.close()
    finally:
        pool.terminate()  # Ctrl-C, or a caller that stopped early: nothing left running
        pool.join()


def _start(model: ModelOptions) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from .pipeline import Transcriber

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parent said what there was to say
        _worker = Transcriber(model)


def _transcribe(source: str, options: TranscribeOptions) -> Transcript | Exception:
    assert _worker is not None
    return next(_worker.transcribe_many([source], options))
