"""What an operator watches: Prometheus metrics at /metrics, a request id on every answer,
and one JSON access-log line per request.

`Observed` wraps the whole app (middleware outside every other): it gives each HTTP
request an id (the client's `X-Request-Id` if it sent a sane one, else a new one), returns
it as a header, makes it readable by error bodies (`request_id()`), counts and times the
request, and logs it. The routes record what only they know: audio seconds transcribed,
the model's time per audio second, errors by type, live streams open, the queue's depth.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOG = logging.getLogger("wav2text.access")
_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
RTF_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2)  # model seconds per audio second


def request_id() -> str | None:
    """The id of the request being answered (None outside one)."""
    return _REQUEST_ID.get()


def chosen_request_id(given: str) -> str:
    """The client's request id if it is sane, else a new one."""
    return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


class Metrics:
    """The server's metrics, in a registry of its own (one per app)."""

    def __init__(self, routes: tuple[str, ...]) -> None:
        self.routes = routes  # paths labelled by name; any other path is "other"
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "wav2text_requests", "HTTP requests answered", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "wav2text_request_seconds",
            "time to answer",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.audio = Counter("wav2text_audio_seconds", "seconds of audio transcribed", registry=r)
        self.model_time = Histogram(
            "wav2text_model_seconds_per_audio_second",
            "a request's transcription time per second of its audio",
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "wav2text_errors", "requests that failed, by error type", ["type"], registry=r
        )
        self.queue = Gauge("wav2text_queue_depth", "requests waiting for the model", registry=r)
        self.streams = Gauge("wav2text_live_streams", "live WebSocket streams open", registry=r)

    def route(self, path: str) -> str:
        return path if path in self.routes else "other"

    def transcribed(self, audio_s: float, seconds: float) -> None:
        self.audio.inc(audio_s)
        if audio_s > 0:
            self.model_time.observe(seconds / audio_s)


class Observed:
    """ASGI middleware: request id, metrics and a JSON access-log line per HTTP request."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app, self.metrics, self.clock = app, metrics, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        rid = chosen_request_id(dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1"))
        token = _REQUEST_ID.set(rid)
        if scope["type"] == "websocket":  # its refusals carry the id; metrics count streams
            try:
                return await self.app(scope, receive, send)
            finally:
                _REQUEST_ID.reset(token)
        started, status = self.clock(), 500

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            _REQUEST_ID.reset(token)
            self._record(scope, rid, status, self.clock() - started)

    def _record(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = self.metrics.route(scope["path"])
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        line = {
            "request_id": rid,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "seconds": round(seconds, 4),
            "client": (scope.get("client") or ("", 0))[0],
        }
        ACCESS_LOG.info(json.dumps(line))
