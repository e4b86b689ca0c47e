"""An OpenAI-compatible HTTP shell: `POST /v1/audio/transcriptions`, one model loaded once.

Clients written for OpenAI's transcription endpoint (the `openai` SDK, curl scripts) work
unchanged against `wav2text serve`. Their `model` and `temperature` fields are accepted and
ignored: the server runs the CTC model it was started with, which samples nothing. `prompt`
is read as hotwords (its words of 4 letters or more), beside wav2text's own `hotwords`.
`language` switches a multilingual adapter model (MMS) to that language for the request,
and is ignored by a model with one language (as OpenAI clients often send it). wav2text's
own fields `sample_rate`, `raw` and `channels` describe headerless PCM uploads, as the CLI
options of the same names do.
Needs the `server` extra: `pip install 'wav2text[server]'`.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, BinaryIO, cast

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import OptionsError, reason
from ..options import ServerLimits, TranscribeOptions
from ..pipeline import Transcriber
from ..results import Transcript
from ..writers import Writer
from .drain import Drain, DrainingServer
from .forms import (
    FormError,
    FormFields,
    NamedUpload,
    field_of,
    form_fields,
    form_options,
    response_writer,
)
from .guards import ApiKeys, BodyPace, UploadLimit, guarded_h11
from .jobs import JobRunner, add_job_routes, add_no_job_routes
from .jobstore import JobStore
from .metrics import ACCESS_LOG, Metrics, Observed
from .processes import RequestProcess, Transcribes, fork_workers
from .replies import error_reply, failure, failure_parts
from .websocket import add_stream_route

WEB_DIR = Path(__file__).parent / "web"  # the page at /: plain HTML, CSS and JS, no CDN
# the paths metrics name (any other is "other": a scanner's paths add no series)
ROUTES = ("/", "/health", "/metrics", "/v1/models", "/v1/audio/transcriptions", "/v1/audio/stream",
          "/v1/jobs")  # fmt: skip


def create_app(
    transcriber: Transcriber,
    options: TranscribeOptions | None = None,
    limits: ServerLimits = ServerLimits(),
    api_keys: tuple[str, ...] = (),
    replicas: Sequence[Transcriber] = (),
    jobs: JobStore | None = None,
    processes: Sequence[RequestProcess] = (),
) -> FastAPI:
    """The HTTP app over one loaded model; `options` are the defaults for every request;
    with `api_keys`, every path but /health and the page asks for one of them; with `jobs`,
    /v1/jobs keeps long transcriptions there (serving.jobs); with `processes`, a replica's
    file requests run in its process (serving.processes)."""
    defaults = replace(
        options or TranscribeOptions(),
        max_duration_s=limits.max_audio_s,
        time_limit_s=limits.max_request_s,
    )
    workers = [transcriber, *replicas]  # requests and live streams spread over them
    answering: dict[int, Transcribes] = {id(p.replica): p for p in processes}
    model_turn = _ModelTurn(limits.max_waiting, workers)
    metrics = Metrics(ROUTES)
    metrics.queue.set_function(lambda: model_turn.waiting)
    app = FastAPI(title="wav2text", description=__doc__)
    if limits.max_upload_mb is not None:
        app.add_middleware(UploadLimit, limit_mb=limits.max_upload_mb)
    app.add_middleware(BodyPace, body_timeout_s=limits.body_timeout_s,
                       min_body_rate=limits.min_body_rate)  # fmt: skip
    if api_keys:
        app.add_middleware(ApiKeys, keys=api_keys, error=error_reply)

    @app.exception_handler(Exception)
    async def bug(_request: Request, error: Exception) -> JSONResponse:
        said = reason(error, "http")
        return error_reply(said, status=500, kind="server_error")  # and keep serving

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        field = str(first["loc"][-1])
        return error_reply(f"{field}: {first['msg']}", param=field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if error.status_code < 500 else "server_error"
        response = error_reply(str(error.detail), status=error.status_code, kind=kind)
        response.headers.update(error.headers or {})
        return response

    app.state.drain = Drain()  # `serve` ends live streams through it on SIGTERM
    add_stream_route(app, workers, defaults, limits, metrics.streams, app.state.drain)
    _add_jobs(app, jobs, model_turn, defaults, metrics, transcriber)
    app.add_middleware(Observed, metrics=metrics)  # outermost: sees every answer
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": transcriber.model.name}

    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        name = transcriber.model.name
        card = {"id": name, "object": "model", "created": 0, "owned_by": "wav2text"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/audio/transcriptions")
    def transcriptions(
        file: Annotated[UploadFile, File()],
        form: Annotated[FormFields, Depends(form_fields)],
        model: Annotated[str | None, Form()] = None,  # OpenAI's; the server runs its own
        temperature: Annotated[str | None, Form()] = None,  # OpenAI's; CTC samples nothing
        response_format: Annotated[str, Form()] = "json",
        granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
        stream: Annotated[bool, Form()] = False,
    ) -> Response:
        try:
            request_options = form_options(transcriber, defaults, form)
            writer = response_writer(response_format, granularities or ["segment"])
        except FormError as err:
            return error_reply(str(err), param=err.param)
        except OptionsError as err:
            return error_reply(str(err), param=field_of(str(err)))
        upload = cast(BinaryIO, NamedUpload(file.file, file.filename or "the upload"))
        if stream:
            return _streamed(upload, request_options, model_turn, metrics)
        with model_turn() as replica:  # the upload is spooled past 1 MB, decoded from there
            started = time.monotonic()
            answers = answering.get(id(replica), replica)
            outcome = _transcribe(answers, upload, request_options, metrics)
        if isinstance(outcome, Response):
            return outcome
        metrics.transcribed(outcome.duration, time.monotonic() - started)
        return _respond(replace(outcome, language=outcome.language or form.language), writer)

    return app


def _add_jobs(
    app: FastAPI,
    jobs: JobStore | None,
    turn: _ModelTurn,
    defaults: TranscribeOptions,
    metrics: Metrics,
    transcriber: Transcriber,
) -> None:
    if jobs is None:
        add_no_job_routes(app)
        return
    runner = JobRunner(jobs, turn, defaults, metrics)
    app.router.on_startup.append(runner.start)  # runs while the app is served
    app.router.on_shutdown.append(runner.stop)  # a job cut short runs again at next start
    add_job_routes(app, jobs, runner, transcriber)


class _ModelTurn:
    """One transcription at a time per replica of the model (each owns its share of the
    CPU, or the GPU), and one bounded queue for all of them."""

    def __init__(self, max_waiting: int, replicas: Sequence[Transcriber]) -> None:
        self.max_waiting = max_waiting
        self.free: queue.Queue[Transcriber] = queue.Queue()
        for replica in replicas:
            self.free.put(replica)
        self.count = threading.Lock()
        self.waiting = 0

    @contextmanager
    def __call__(self) -> Iterator[Transcriber]:
        with self.count:
            if self.free.empty() and self.waiting >= self.max_waiting:
                raise HTTPException(
                    503,
                    f"the server is busy (its queue of {self.max_waiting} is full); "
                    "retry later, or start it with a larger --max-waiting",
                    headers={"Retry-After": "5"},
                )
            self.waiting += 1
        replica = self.free.get()
        with self.count:
            self.waiting -= 1
        try:
            yield replica
        finally:
            self.free.put(replica)


def _streamed(
    upload: BinaryIO,
    options: TranscribeOptions,
    turn: _ModelTurn,
    metrics: Metrics,
) -> Response:
    """stream=true: OpenAI's transcription events, a delta as each run of words is decided,
    then done. The model's turn is held until the last event; an error before the first
    words is an HTTP error, one after them an error event."""
    held = ExitStack()
    transcriber = held.enter_context(turn())
    started = time.monotonic()
    items = transcriber.transcribe_stream(upload, options)
    try:
        first = next(items)
    except Exception as error:
        held.close()
        return failure(error, metrics)

    def events() -> Iterator[str]:
        told = False
        try:
            for item in itertools.chain([first], items):
                if isinstance(item, Transcript):
                    metrics.transcribed(item.duration, time.monotonic() - started)
                    yield _event({"type": "transcript.text.done", "text": item.text})
                else:
                    delta = (" " if told else "") + " ".join(w.text for w in item)
                    told = True
                    yield _event({"type": "transcript.text.delta", "delta": delta})
        except Exception as error:
            yield _event({"type": "error", "error": failure_parts(error, metrics)[1]["error"]})
        finally:
            items.close()
            held.close()

    return StreamingResponse(events(), media_type="text/event-stream")


def _event(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body)}\n\n"


def _transcribe(
    transcriber: Transcribes, upload: BinaryIO, options: TranscribeOptions, metrics: Metrics
) -> Transcript | Response:
    try:
        return transcriber.transcribe(upload, options)
    except Exception as error:
        return failure(error, metrics)


def _respond(transcript: Transcript, writer: Writer) -> Response:
    # warnings also in headers, for formats with no room for them (headers are latin-1)
    headers = {
        f"x-wav2text-warning-{i}": w.encode("ascii", "replace").decode()
        for i, w in enumerate(transcript.warnings)
    }
    return Response(writer.render(transcript), media_type=writer.media_type, headers=headers)


def serve(
    transcriber: Transcriber,
    options: TranscribeOptions,
    host: str,
    port: int,
    limits: ServerLimits = ServerLimits(),
    api_keys: tuple[str, ...] = (),
    replicas: Sequence[Transcriber] = (),
    jobs: JobStore | None = None,
    fork: bool = False,
) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM: drained first); with `fork` (see
    processes.can_fork), file requests run in a forked process per replica."""
    processes = fork_workers([transcriber, *replicas]) if fork else []
    try:
        _serve(create_app(transcriber, options, limits, api_keys, replicas, jobs, processes),
               host, port, limits)  # fmt: skip
    finally:
        for process in processes:
            process.close()


def _serve(app: FastAPI, host: str, port: int, limits: ServerLimits) -> None:
    access = logging.StreamHandler()  # one JSON line per request (uvicorn's own is off)
    access.setFormatter(logging.Formatter("%(message)s"))
    ACCESS_LOG.addHandler(access)
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
    server = DrainingServer(server_config(app, host, port, limits), app.state.drain)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn raises again the signal it stopped on
        if not server.drained:
            raise  # cut short (a second signal): the caller says it was interrupted


def _uvicorn_options(host: str, port: int, limits: ServerLimits) -> dict[str, Any]:
    """uvicorn's own limits, from ServerLimits: the connection's side of the guards."""
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": False,  # wav2text.access logs each request as JSON, with its id
        "timeout_graceful_shutdown": limits.drain_s,  # SIGTERM: in-flight requests finish
        "http": guarded_h11(limits.headers_timeout_s),
        "timeout_keep_alive": limits.keep_alive_s,
        "limit_concurrency": limits.max_connections,
        "h11_max_incomplete_event_size": 64 * 1024,  # a header block larger than this: 400
    }


def server_config(app: FastAPI, host: str, port: int, limits: ServerLimits) -> Any:
    """A uvicorn.Config for `app` with every guard on (tests run servers from it)."""
    import uvicorn

    return uvicorn.Config(app, **_uvicorn_options(host, port, limits))
