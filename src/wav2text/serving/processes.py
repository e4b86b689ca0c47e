"""File requests in worker processes: `serve --workers N` on a CPU forks, before it serves,
one process per model replica, which inherits that replica (the weights' pages shared until
written) and answers its requests on one CPU thread.

Why processes: threads take turns on one interpreter, and for a small model the Python
around the forward pass (decoding the upload, VAD, the LM's beam search) is most of a
request (measured: benchmarks/bench_workers.py). A request's upload goes to the process with
its options (up to 8 MB as bytes, a larger one, spooled to disk by then, as its file
descriptor); the Transcript (or the error) comes back. Live
streams, `stream=true` and jobs stay on the server's own copy of the replica (threads):
they report as they go, which a process would have to relay.

A process that dies (killed, out of memory) costs no request: the one it held is run again
on the server's copy, and so are the replica's later ones. The processes ignore SIGINT and
SIGTERM (the server drains first, then closes their pipes) and end when their pipe closes:
when the server ends, however it ends (at exit, on an exception, or killed).
"""

from __future__ import annotations

import atexit
import io
import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from typing import Any, BinaryIO, Protocol, cast

from ..options import TranscribeOptions
from ..parallel import forking, start_method
from ..pipeline import Transcriber
from ..results import Transcript
from .forms import NamedUpload

LOG = logging.getLogger("wav2text.serve")
INLINE_BYTES = 8 << 20  # an upload up to this size is sent as bytes; a larger one by descriptor


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
    with forking():
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
    for worker in workers:  # before multiprocessing's own exit, which would wait on them
        atexit.register(worker.close)
    return workers


class RequestProcess:
    """A replica's requests, answered by its process while it lives, else by the replica."""

    def __init__(self, replica: Transcriber, pipe: Connection, process: Any) -> None:
        self.replica, self.pipe, self.process = replica, pipe, process
        self.lost = False

    def transcribe(self, source: BinaryIO, options: TranscribeOptions | None = None) -> Any:
        """`source`: a seekable file (the server's spooled upload), read from its start."""
        options = options or TranscribeOptions()
        if self.lost:
            return self.replica.transcribe(source, options)
        try:
            self._send(source, options)
            outcome = self.pipe.recv()
        except (EOFError, OSError):
            self._lose()
            source.seek(0)
            return self.replica.transcribe(source, options)
        if isinstance(outcome, Exception):
            raise outcome
        return cast(Transcript, outcome)

    def _send(self, source: BinaryIO, options: TranscribeOptions) -> None:
        """A small upload's bytes, a large one's descriptor (its file is on disk already:
        the process reads it there, and the server's memory never holds it)."""
        name = getattr(source, "name", "the upload")
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
        if size <= INLINE_BYTES:
            self.pipe.send((source.read(), name, options))
            return
        self.pipe.send((None, name, options))
        send_handle(self.pipe, source.fileno(), self.process.pid)

    def _lose(self) -> None:
        self.lost = True
        self.process.join(1)
        LOG.warning(
            "wav2text: worker process %s ended (exit code %s); its requests now run in the "
            "server's process", self.process.pid, self.process.exitcode,
        )  # fmt: skip

    def close(self) -> None:
        """Ends the process (at once if idle; after its request, at most 5 s, if not)."""
        if self.pipe.closed:
            return
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
            upload = _upload(pipe, data)
        except EOFError:
            return
        with upload:
            try:
                outcome: Any = replica.transcribe(_named(upload, name), options)
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


def _upload(pipe: Connection, data: bytes | None) -> BinaryIO:
    """The request's upload: its bytes, or the file whose descriptor follows them."""
    return io.BytesIO(data) if data is not None else os.fdopen(recv_handle(pipe), "rb")


def _named(upload: BinaryIO, name: str) -> BinaryIO:
    return cast(BinaryIO, NamedUpload(upload, name))
