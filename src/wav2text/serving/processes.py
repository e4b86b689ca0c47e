"""File requests in worker processes: `serve --workers N` on a CPU forks, before it serves,
one process per model replica, which inherits that replica (the weights' pages shared until
written) and answers its requests on one CPU thread.

Why processes: threads take turns on one interpreter, and for a small model the Python
around the forward pass (decoding the upload, VAD, the LM's beam search) is most of a
request (measured: benchmarks/bench_workers.py). A request's upload is read in the server
and sent to the process with its options; the Transcript (or the error) comes back. Live
streams, `stream=true` and jobs stay on the server's own copy of the replica (threads):
they report as they go, which a process would have to relay.

A process that dies (killed, out of memory) costs no request: the one it held is run again
on the server's copy, and so are the replica's later ones. The processes ignore SIGINT and
SIGTERM (the server drains first, then closes their pipes) and end when their pipe closes,
the server's death included.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import signal
import warnings
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, BinaryIO, Protocol, cast

from ..options import TranscribeOptions
from ..parallel import frozen_heap, start_method
from ..pipeline import Transcriber
from ..results import Transcript
from .forms import NamedUpload

LOG = logging.getLogger("wav2text.serve")


class Transcribes(Protocol):
    def transcribe(self, source: BinaryIO, options: TranscribeOptions | None = None) -> Any: ...


def can_fork(replicas: Sequence[Transcriber], threads: int) -> bool:
    """Whether file requests may run in forked processes: two replicas or more, each on one
    thread (a fork must not enter the server's OpenMP pool), where parallel.start_method
    allows a fork (Linux, torch on the CPU, no other thread; not $WAV2TEXT_START_METHOD=spawn)."""
    if len(replicas) < 2 or threads != 1:
        return False
    return all(start_method(r.options.runtime) == "fork" for r in replicas)


def fork_workers(replicas: Sequence[Transcriber]) -> list[RequestProcess]:
    """One process per replica, forked now (call it before any thread starts)."""
    context = multiprocessing.get_context("fork")
    workers: list[RequestProcess] = []
    with frozen_heap(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork beside native threads
        for replica in replicas:
            here, there = context.Pipe()  # made now: no other process holds its ends
            earlier = [worker.pipe for worker in workers]
            process = context.Process(
                target=_serve_requests, args=(replica, there, [here, *earlier]), daemon=True,
                name="wav2text-worker",
            )  # fmt: skip
            process.start()
            there.close()
            workers.append(RequestProcess(replica, here, process))
    return workers


class RequestProcess:
    """A replica's requests, answered by its process while it lives, else by the replica."""

    def __init__(self, replica: Transcriber, pipe: Connection, process: Any) -> None:
        self.replica, self.pipe, self.process = replica, pipe, process
        self.lost = False

    def transcribe(self, source: BinaryIO, options: TranscribeOptions | None = None) -> Any:
        options = options or TranscribeOptions()
        if self.lost:
            return self.replica.transcribe(source, options)
        data, name = source.read(), getattr(source, "name", "the upload")
        try:
            self.pipe.send((data, name, options))
            outcome = self.pipe.recv()
        except (EOFError, OSError):
            self._lose()
            return self.replica.transcribe(_named(data, name), options)
        if isinstance(outcome, Exception):
            raise outcome
        return cast(Transcript, outcome)

    def _lose(self) -> None:
        self.lost = True
        self.process.join(1)
        LOG.warning(
            "wav2text: worker process %s ended (exit code %s); its requests now run in the "
            "server's process", self.process.pid, self.process.exitcode,
        )  # fmt: skip

    def close(self) -> None:
        self.pipe.close()  # the process's recv ends: it exits
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


def _serve_requests(replica: Transcriber, pipe: Connection, inherited: list[Connection]) -> None:
    import torch

    for end in inherited:
        end.close()  # the server's ends: held here too, a pipe would never close
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server drains, then closes the pipe
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(1)
    while True:
        try:
            data, name, options = pipe.recv()
        except EOFError:
            return
        try:
            outcome: Any = replica.transcribe(_named(data, name), options)
        except Exception as error:
            outcome = error
        _answer(pipe, outcome)


def _answer(pipe: Connection, outcome: Any) -> None:
    try:
        pipe.send(outcome)
    except (BrokenPipeError, EOFError):
        raise SystemExit(0) from None  # the server is gone
    except Exception as error:  # an exception that does not pickle
        pipe.send(RuntimeError(f"{type(outcome).__name__}: {outcome} ({error})"))


def _named(data: bytes, name: str) -> BinaryIO:
    return cast(BinaryIO, NamedUpload(io.BytesIO(data), name))
