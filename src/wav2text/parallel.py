"""Many files on every core: worker processes, each with its own copy of the model and one
share of the cores, files handed out in order and outcomes given back in input order.

Processes, not threads: a small model's time is mostly Python (VAD, decoding, the LM's
beam search), which threads would take turns on (measured: benchmarks/bench_batch.py). On
Linux (see start_method), a worker is a fork of this process with its loaded model (pages
shared until written): it starts in milliseconds instead of the seconds a fresh interpreter
takes to import torch and load the model, a third of a short batch on two cores. Like
torch's own DataLoader workers, a forked worker runs torch on one thread, so it never enters
the parent's OpenMP pool. Elsewhere ("spawn") each worker loads its own model while this
process works alone.

Before a fork, this process's garbage is collected and what survives is frozen (gc.freeze,
as Python's docs advise for a fork without exec): a worker's collector then never frees an
object made here. Measured without it: a worker hung for good freeing a PyAV filter graph
left as garbage here, whose FFmpeg thread pool waited on threads a fork does not copy.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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


START_METHOD_VARIABLE = "WAV2TEXT_START_METHOD"  # "spawn": never fork (native threads unseen)
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
    import torch

    options = replace(options, progress=None)  # a callable cannot cross to a process
    pool, ready = _pool(local, workers - 1)
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


def start_method(runtime: str = "torch") -> str:
    """How workers start: "fork" on Linux (macOS's system libraries are not fork-safe, hence
    Python's own "spawn" default there) for a torch model on the CPU (a forked child cannot
    use the parent's CUDA context, nor the thread pools of ONNX Runtime or OpenVINO's TBB)
    when no other thread of the caller's is at work (a fork copies only the calling thread,
    and a lock another one held stays held in the child: a batch started from a server's
    request thread, say), unless $WAV2TEXT_START_METHOD is "spawn"; else "spawn"."""
    import torch

    if os.environ.get(START_METHOD_VARIABLE) == "spawn":  # the escape hatch: see the docs
        return "spawn"
    if not sys.platform.startswith("linux") or runtime != "torch":
        return "spawn"
    if torch.cuda.is_initialized():
        return "spawn"
    if threading.current_thread() is not threading.main_thread() or _other_threads():
        return "spawn"
    return "fork"


def _other_threads() -> bool:
    """Threads besides this one that a fork could copy a held lock from: every other Python
    thread but tqdm's progress monitor, and Ray's (gRPC) threads where this process joined
    Ray. Measured: a batch forked from a process that had joined Ray and run servers on
    daemon threads left its worker waiting on a lock forever."""
    me = threading.current_thread()
    if any(t is not me and type(t).__name__ != "TMonitor" for t in threading.enumerate()):
        return True
    ray = sys.modules.get("ray")
    return bool(ray is not None and getattr(ray, "is_initialized", lambda: False)())


def _pool(local: Local, count: int) -> tuple[Any, Any]:
    """`count` workers, each with `local`'s model, and the count of those ready."""
    method = start_method(local.options.runtime)
    context = multiprocessing.get_context(method)
    ready = context.Value("i", 0)
    if method == "spawn":
        return context.Pool(
            count, _load, (type(local), replace(local.options, threads=1), ready)
        ), ready
    with forking():
        return context.Pool(count, _adopt, (local, ready)), ready


@contextmanager
def forking() -> Iterator[None]:
    """Where this process forks its workers (batches here, the server's in
    serving.processes): the forks never collect this process's objects (see the module's
    docstring), and Python 3.12+'s warning of a fork beside native threads (BLAS, OpenMP:
    DataLoader's situation too) is not shown."""
    gc.collect()
    gc.freeze()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        gc.unfreeze()


def _adopt(local: Local, ready: Any) -> None:
    """A forked worker's start: the model it inherited, on one thread."""
    import torch

    global _worker
    _signals_for_a_worker()
    torch.set_num_threads(1)
    _worker = local
    _started(ready)


def _load(kind: type[Local], model: ModelOptions, ready: Any) -> None:
    """A spawned worker's start: the caller's Transcriber class (passed by reference) loads
    the model."""
    global _worker
    _signals_for_a_worker()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parent said what there was to say
        _worker = kind(model)  # type: ignore[call-arg]
    _started(ready)


def _signals_for_a_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool's end (a fork inherits the CLI's)


def _started(ready: Any) -> None:
    with ready.get_lock():
        ready.value += 1


def _transcribe(source: str, options: TranscribeOptions) -> Transcript | Exception:
    assert _worker is not None
    return next(_worker.transcribe_many([source], options))
