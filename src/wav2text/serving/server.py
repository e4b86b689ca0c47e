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
from typing import Annotated, Any, BinaryIO, Literal, cast

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AudioTooLongError, OptionsError, TimeLimitError, Wav2TextError, reason
from ..language import language_code
from ..lm import spell_words
from ..options import RawFormat, ServerLimits, TranscribeOptions, hotword_list, prompt_hotwords
from ..pipeline import Transcriber
from ..rate import parse_rate
from ..rawformat import RAW_FORMATS
from ..results import Transcript
from ..writers import RESPONSE_WRITERS, VerboseJsonWriter, Writer
from .drain import Drain, DrainingServer
from .guards import ApiKeys, BodyPace, guarded_h11
from .metrics import ACCESS_LOG, Metrics, Observed, request_id
from .websocket import add_stream_route

WEB_DIR = Path(__file__).parent / "web"  # the page at /: plain HTML, CSS and JS, no CDN
# the paths metrics name (any other is "other": a scanner's paths add no series)
ROUTES = ("/", "/health", "/metrics", "/v1/models", "/v1/audio/transcriptions", "/v1/audio/stream")


def create_app(
    transcriber: Transcriber,
    options: TranscribeOptions | None = None,
    limits: ServerLimits = ServerLimits(),
    api_keys: tuple[str, ...] = (),
    replicas: Sequence[Transcriber] = (),
) -> FastAPI:
    """The HTTP app over one loaded model; `options` are the defaults for every request;
    with `api_keys`, every path but /health and the page asks for one of them."""
    defaults = replace(
        options or TranscribeOptions(),
        max_duration_s=limits.max_audio_s,
        time_limit_s=limits.max_request_s,
    )
    workers = [transcriber, *replicas]  # requests and live streams spread over them
    model_turn = _ModelTurn(limits.max_waiting, workers)
    metrics = Metrics(ROUTES)
    metrics.queue.set_function(lambda: model_turn.waiting)
    app = FastAPI(title="wav2text", description=__doc__)
    if limits.max_upload_mb is not None:
        app.add_middleware(_UploadLimit, limit_mb=limits.max_upload_mb)
    app.add_middleware(BodyPace, body_timeout_s=limits.body_timeout_s,
                       min_body_rate=limits.min_body_rate)  # fmt: skip
    if api_keys:
        app.add_middleware(ApiKeys, keys=api_keys, error=_error)

    @app.exception_handler(Exception)
    async def bug(_request: Request, error: Exception) -> JSONResponse:
        return _error(reason(error), status=500, kind="server_error")  # and keep serving

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        field = str(first["loc"][-1])
        return _error(f"{field}: {first['msg']}", param=field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if error.status_code < 500 else "server_error"
        response = _error(str(error.detail), status=error.status_code, kind=kind)
        response.headers.update(error.headers or {})
        return response

    app.state.drain = Drain()  # `serve` ends live streams through it on SIGTERM
    add_stream_route(app, workers, defaults, limits, metrics.streams, app.state.drain)
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
        model: Annotated[str | None, Form()] = None,
        language: Annotated[str | None, Form()] = None,
        prompt: Annotated[str | None, Form()] = None,
        hotwords: Annotated[str | None, Form()] = None,
        temperature: Annotated[str | None, Form()] = None,
        response_format: Annotated[str, Form()] = "json",
        granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
        sample_rate: Annotated[str | None, Form()] = None,
        raw: Annotated[str | None, Form()] = None,
        channels: Annotated[str | None, Form()] = None,
        split_channels: Annotated[bool, Form()] = False,
        stream: Annotated[bool, Form()] = False,
    ) -> Response:
        granularities = granularities or ["segment"]
        try:
            count = None if channels is None else _count(channels)
            request_options = _request_options(defaults, sample_rate, raw, count)
            if split_channels:
                request_options = replace(request_options, channels="split")
            request_options = _with_hotwords(transcriber, request_options, hotwords, prompt)
            writer = _writer(response_format, granularities)
        except OptionsError as error:
            return _error(str(error), param=_field_of(str(error)))
        try:
            chosen = _language(transcriber, language)
        except OptionsError as error:
            return _error(str(error), param="language")
        request_options = replace(request_options, language=chosen)
        upload = cast(BinaryIO, _NamedUpload(file.file, file.filename or "the upload"))
        if stream:
            return _streamed(upload, request_options, model_turn, metrics)
        with model_turn() as replica:  # the upload is spooled past 1 MB, decoded from there
            started = time.monotonic()
            outcome = _transcribe(replica, upload, request_options, metrics)
        if isinstance(outcome, Response):
            return outcome
        metrics.transcribed(outcome.duration, time.monotonic() - started)
        return _respond(replace(outcome, language=outcome.language or language), writer)

    return app


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


class _UploadLimit:
    """Refuses a request body over `limit` bytes: by its Content-Length, else as it arrives."""

    def __init__(self, app: ASGIApp, limit_mb: float) -> None:
        self.app = app
        self.limit_mb = limit_mb
        self.limit = int(limit_mb * 2**20)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return (
            f"the upload is larger than this server takes ({self.limit_mb:g} MB); "
            "send a shorter file, or start the server with a larger --max-upload-mb"
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _error(self._message(), status=413)(scope, receive, send)


def _language(transcriber: Transcriber, language: str | None) -> str | None:
    """The language a multilingual model runs this request in; None: the one it was
    started with. A one-language model ignores the field (OpenAI clients often send it)."""
    model = transcriber.model
    if not language or not model.languages:
        return None
    return language_code(language, model.languages, model.name)


def _request_options(
    defaults: TranscribeOptions, sample_rate: str | None, raw: str | None, channels: int | None
) -> TranscribeOptions:
    rate = defaults.sample_rate if sample_rate is None else _field("sample_rate", sample_rate)
    if raw is not None and raw not in (*RAW_FORMATS, "auto"):  # the form's words, not Python's
        raise OptionsError(f"raw must be one of {', '.join(RAW_FORMATS)} or auto, not {raw!r}")
    if raw is None and channels is not None:
        raise OptionsError("channels describes raw input: send it with raw")
    raw_format = RawFormat(raw, channels) if raw else None
    return replace(defaults, sample_rate=rate, raw=raw_format)


def _with_hotwords(
    transcriber: Transcriber, options: TranscribeOptions, hotwords: str | None, prompt: str | None
) -> TranscribeOptions:
    """The server's hotwords, the request's `hotwords` field and its `prompt`'s words, each
    one the model can take (else the field is refused before the upload is read)."""
    spellable = spell_words(prompt_hotwords(prompt or ""), transcriber.model.vocab)
    given = hotword_list(hotwords or "") + tuple(spellable)  # a prompt: no refusal over it
    if not given:
        return options
    try:
        chosen = replace(options, hotwords=options.hotwords + given)
        transcriber.decode(chosen)
    except OptionsError as error:
        raise OptionsError(f"hotwords: {error}") from error
    return chosen


def _count(text: str) -> int:
    """A channel count from a form: ASCII digits only, as the CLI takes it."""
    if not (text.isascii() and text.isdigit() and len(text) <= 2):
        raise OptionsError(f"channels must be a whole number of 1..64, not {text[:20]!r}")
    return int(text)


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
        return _failure(error, metrics)

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
            yield _event({"type": "error", "error": _failure_parts(error, metrics)[1]["error"]})
        finally:
            items.close()
            held.close()

    return StreamingResponse(events(), media_type="text/event-stream")


def _event(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body)}\n\n"


def _field(name: str, text: str) -> int | Literal["auto"]:
    try:
        return parse_rate(text)
    except Wav2TextError as error:
        raise OptionsError(f"{name}: {error}") from error


FORM_FIELDS = (
    "sample_rate",
    "raw",
    "channels",
    "response_format",
    "timestamp_granularities[]",
    "hotwords",
)


def _field_of(message: str) -> str | None:
    """The form field a message about one names first (OpenAI's `param`)."""
    first = message.split(" ", 1)[0].rstrip(":")
    if first == "word":  # "word timestamps need response_format=verbose_json"
        return "timestamp_granularities[]"
    return first if first in FORM_FIELDS else None


class _NamedUpload:
    """An upload's spooled file under the name its client gave it, so that an error about
    it names the file the user sent."""

    def __init__(self, file: BinaryIO, name: str) -> None:
        self._file, self.name = file, name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._file, attribute)


def _writer(name: str, granularities: list[str]) -> Writer:
    if name not in RESPONSE_WRITERS:
        raise OptionsError(
            f"response_format must be one of {', '.join(RESPONSE_WRITERS)}, not {name!r}"
        )
    unknown = set(granularities) - {"word", "segment"}
    if unknown:
        raise OptionsError(f"timestamp_granularities[] takes word and segment, not {unknown}")
    writer = RESPONSE_WRITERS[name]
    if isinstance(writer, VerboseJsonWriter):
        return replace(writer, granularities=tuple(granularities))
    if "word" in granularities:
        raise OptionsError("word timestamps need response_format=verbose_json")
    return writer


def _transcribe(
    transcriber: Transcriber, upload: BinaryIO, options: TranscribeOptions, metrics: Metrics
) -> Transcript | Response:
    try:
        return transcriber.transcribe(upload, options)
    except Exception as error:
        return _failure(error, metrics)


def _failure(error: Exception, metrics: Metrics) -> JSONResponse:
    """An input's failure as the HTTP error it is (a bug: 500, and the server goes on)."""
    status, body = _failure_parts(error, metrics)
    return JSONResponse(body, status_code=status)


def _failure_parts(error: Exception, metrics: Metrics) -> tuple[int, dict[str, Any]]:
    metrics.errors.labels(type(error).__name__).inc()
    status, kind, param = 500, "server_error", None  # a bug: say so, keep serving
    if isinstance(error, AudioTooLongError):
        status, kind, param = 413, "invalid_request_error", "file"
    elif isinstance(error, TimeLimitError):
        status = 503
    elif isinstance(error, Wav2TextError):
        status, kind, param = 400, "invalid_request_error", "file"
    return status, _error_body(reason(error), kind, param)


def _respond(transcript: Transcript, writer: Writer) -> Response:
    # warnings also in headers, for formats with no room for them (headers are latin-1)
    headers = {
        f"x-wav2text-warning-{i}": w.encode("ascii", "replace").decode()
        for i, w in enumerate(transcript.warnings)
    }
    return Response(writer.render(transcript), media_type=writer.media_type, headers=headers)


def _error(
    message: str, status: int = 400, kind: str = "invalid_request_error", param: str | None = None
) -> JSONResponse:
    return JSONResponse(_error_body(message, kind, param), status_code=status)


def _error_body(message: str, kind: str, param: str | None) -> dict[str, Any]:
    """OpenAI's error shape, with the request's id (as its X-Request-Id header has it)."""
    error = {"message": message, "type": kind, "param": param, "code": None}
    return {"error": {**error, "request_id": request_id()}}


def serve(
    transcriber: Transcriber,
    options: TranscribeOptions,
    host: str,
    port: int,
    limits: ServerLimits = ServerLimits(),
    api_keys: tuple[str, ...] = (),
    replicas: Sequence[Transcriber] = (),
) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM: drained first)."""

    app = create_app(transcriber, options, limits, api_keys, replicas)
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
