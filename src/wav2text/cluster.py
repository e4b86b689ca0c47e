"""The batch runner on a Ray cluster: one model per worker, inputs handed out as workers free up.

Each worker (a Ray actor) loads the model once and transcribes chunks of inputs with
`Transcriber.transcribe_many`, so segments batch across the files of a chunk. The driver
writes each output as it arrives, atomically, as the local runner does: a stopped run
resumes with skip_existing. A worker that dies (out of memory, a crash in native code) is
restarted by Ray, which runs the chunk it died on once more; if it dies again the chunk's
inputs are retried one at a time, and an input that still kills a worker is reported as
failed while the rest carry on. Inputs are paths every node can read (on a cluster: a
shared filesystem); Ray and wav2text must be installed on every node. Needs the `ray`
extra: `pip install 'wav2text[ray]'`.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray

from .batch import Failure, Sink, Stems, inputs_to_do, planned_outputs, settled
from .errors import Fix, OptionsError
from .options import ModelOptions, TranscribeOptions
from .pipeline import Transcriber
from .resolve import BundledModelWarning, resolve_model
from .results import Transcript
from .writers import CueLayout

DIED = "a wav2text worker died each time it transcribed this (out of memory? see the Ray logs)"


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: the cluster named by RAY_ADDRESS, else a new local one
    workers: int | None = None  # None: one per GPU with device="cuda", else one per CPU thread
    files_per_task: int = 8  # inputs handed to a worker at a time (they batch together)

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise OptionsError(f"workers must be at least 1, got {self.workers}")
        if self.files_per_task < 1:
            raise OptionsError(f"files_per_task must be at least 1, got {self.files_per_task}")


class TranscribeWorker:
    """One model, loaded once per Ray actor."""

    def __init__(self, model: ModelOptions) -> None:
        self.transcriber = Transcriber(model)

    def run(self, names: list[str], options: TranscribeOptions) -> list[Transcript | Failure]:
        outcomes = self.transcriber.transcribe_many(names, options)
        return [outcome for _, outcome in settled(names, outcomes)]


def run_on_ray(
    model: ModelOptions,
    inputs: Sequence[str],
    options: TranscribeOptions,
    formats: Sequence[str],
    out_dir: Path,
    ray_options: RayOptions = RayOptions(),
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    skip_existing: bool = False,
    stems: Stems | None = None,
    layout: CueLayout | None = None,
) -> list[Failure]:
    """Transcribe the inputs on a Ray cluster into out_dir; the failures, as run_batch."""
    if "-" in inputs:
        raise OptionsError("standard input cannot be shared with Ray workers: pass files")
    if skip_existing:
        inputs = inputs_to_do(inputs, out_dir, formats, report, stems)
    else:
        planned_outputs(inputs, out_dir, formats, stems)  # two inputs, one output: stop now
    choice = resolve_model(model.model, model.revision)  # once, so every worker agrees
    if choice.notice:
        warnings.warn(choice.notice, BundledModelWarning, stacklevel=2)
    if not ray.is_initialized():
        connect(ray_options.address)
    actors = start_workers(replace(model, model=choice.name), ray_options)
    sink = Sink(formats, out_dir, sys.stdout, len(inputs), stems, layout)
    drive(actors, inputs, options, ray_options.files_per_task, sink)
    return sink.close(report)


PROBE_TIMEOUT_S = 5.0


def connect(address: str | None) -> None:
    target = address or os.environ.get("RAY_ADDRESS")  # None: Ray starts a local cluster
    if target:
        _probe(target)
    where = target or "a new local cluster"
    try:
        ray.init(address=address, log_to_driver=False)
    except ConnectionError as err:
        raise OptionsError(f"cannot reach the Ray cluster at {where} ({err})") from err


def _probe(address: str) -> None:
    """Fail at once where no Ray cluster answers: ray.init retries such an address for
    minutes. Ray speaks gRPC, whose servers answer HTTP/2's opening with a SETTINGS frame;
    a dashboard (port 8265) or any other service does not."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" or a form Ray itself will judge
    try:
        connection = socket.create_connection((host.strip("[]"), int(port)), PROBE_TIMEOUT_S)
    except OSError as err:
        raise OptionsError(
            f"cannot reach the Ray cluster at {address}: nothing answers there ({err}); "
            "start one with `ray start --head` or check the address"
        ) from err
    with connection:
        if os.environ.get("RAY_USE_TLS", "0") not in ("0", ""):
            return  # the opening would have to go through TLS first: leave it to Ray
        answer = _first_frame(connection)
    if len(answer) < len(_FRAME_HEADER) or answer[3] != _SETTINGS:
        raise OptionsError(
            f"{address} answers, but not as a Ray cluster does (Ray speaks gRPC; this answered "
            f"{answer[:32]!r}); give the address `ray start --head` printed (port 6379 unless "
            "changed; 8265 is Ray's dashboard, 10001 its client server: ray://HOST:10001)"
        )


_FRAME_HEADER = bytes(9)  # HTTP/2: length (3 bytes), type, flags, stream id (4 bytes)
_SETTINGS = 4
_HTTP2_OPENING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, _SETTINGS, 0, 0, 0, 0, 0])


def _first_frame(connection: socket.socket) -> bytes:
    """The first 9 bytes answered to HTTP/2's client opening (fewer if it closes or waits)."""
    answer = b""
    try:
        connection.settimeout(PROBE_TIMEOUT_S)
        connection.sendall(_HTTP2_OPENING)
        while len(answer) < len(_FRAME_HEADER):
            chunk = connection.recv(len(_FRAME_HEADER) - len(answer))
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass  # a reset or silence: judged by what came before it
    return answer


def start_workers(
    model: ModelOptions, ray_options: RayOptions, worker: type = TranscribeWorker
) -> list[Any]:
    threads = model.threads or 1
    gpu = model.device.startswith("cuda")
    count = ray_options.workers or _default_workers(ray.cluster_resources(), gpu, threads)
    # A worker that dies comes back, and a task sent while it restarts runs once it is
    # back (rather than failing at once); the task it died on also runs once more.
    remote: Any = ray.remote(max_restarts=-1, max_task_retries=1)(worker)
    options = remote.options(num_cpus=threads, num_gpus=1 if gpu else 0)
    return [options.remote(replace(model, threads=threads)) for _ in range(count)]


def _default_workers(resources: dict[str, float], gpu: bool, threads: int) -> int:
    if gpu:
        gpus = int(resources.get("GPU", 0))
        if not gpus:
            raise OptionsError(
                "device cuda, but the Ray cluster has no GPUs",
                Fix("use device='cpu'", "use --device cpu", "start the server with --device cpu"),
            )
        return gpus
    return max(1, int(resources.get("CPU", 1)) // threads)


def drive(
    actors: list[Any],
    inputs: Sequence[str],
    options: TranscribeOptions,
    files_per_task: int,
    sink: Sink,
) -> None:
    """Keep every worker busy until each input has an outcome in the sink."""
    queue: deque[tuple[list[str], bool]] = deque(
        (list(inputs[i : i + files_per_task]), False) for i in range(0, len(inputs), files_per_task)
    )
    pending: dict[Any, tuple[Any, list[str], bool]] = {}

    def submit(actor: Any) -> None:
        if queue:
            names, retry = queue.popleft()
            pending[actor.run.remote(names, options)] = (actor, names, retry)

    for actor in actors:
        submit(actor)
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        actor, names, retry = pending.pop(ref)
        try:
            outcomes = ray.get(ref)
        except ray.exceptions.RayActorError:
            if retry:
                sink.take(names[0], Failure(names[0], DIED))
            else:  # one at a time, so only the input that kills a worker fails
                queue.extendleft(([name], True) for name in reversed(names))
        else:
            for name, outcome in zip(names, outcomes, strict=True):
                sink.take(name, outcome)
        submit(actor)
