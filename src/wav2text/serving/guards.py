"""What keeps `wav2text serve` answering on a network: API keys, and clients that are slow
on purpose (headers or bodies that trickle in) cut off in bounded time.

- `ApiKeys`: `Authorization: Bearer KEY` checked in constant time on every path but
  /health and the page's own files (a WebSocket may send `?api_key=KEY`: browsers cannot
  set its headers); 401 in OpenAI's error shape otherwise.
- `BodyPace`: a request body must keep coming: no gap longer than `body_timeout_s`, and
  after the first `body_timeout_s`, at least `min_body_rate` bytes per second; else 408.
- `UploadLimit`: a body over the server's upload limit is refused with 413, by its
  Content-Length or as it arrives.
- `guarded_h11`: uvicorn's HTTP protocol with a deadline for a request's headers, which
  uvicorn itself lets a client send forever.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .replies import error_reply

OPEN_PATHS = ("/health", "/")  # and everything below OPEN_PREFIX: the page's own files
OPEN_PREFIX = "/static/"


class ApiKeys:
    def __init__(self, app: ASGIApp, keys: tuple[str, ...], error: Any) -> None:
        self.app, self.keys, self.error = app, tuple(k.encode() for k in keys), error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._open(scope["path"]):
            return await self.app(scope, receive, send)
        if self._allowed(scope):
            return await self.app(scope, receive, send)
        socket = scope["type"] == "websocket"
        if socket and "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})  # no way to answer in HTTP
            return None
        sent = request_key(scope)
        said = "an API key this server does not know" if sent else "no API key"
        how = (
            "?api_key=KEY in the stream's URL (or Authorization: Bearer KEY)"
            if socket
            else "Authorization: Bearer KEY (OpenAI's clients: api_key=KEY)"
        )
        message = f"this server needs an API key and the request sent {said}: send {how}"
        return await self.error(message, 401, "invalid_request_error")(scope, receive, send)

    def _open(self, path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIX)

    def _allowed(self, scope: Scope) -> bool:
        given = request_key(scope)
        # every key compared, each in constant time: the answer's timing says nothing
        return bool(given) and sum(hmac.compare_digest(given, k) for k in self.keys) > 0


def request_key(scope: Scope) -> bytes:
    """The API key a request or stream sent (b"" if none)."""
    return _bearer(scope) or _query_key(scope)


def _bearer(scope: Scope) -> bytes:
    value = dict(scope["headers"]).get(b"authorization", b"")
    scheme, _, key = value.partition(b" ")
    return key.strip() if scheme.lower() == b"bearer" else b""


def _query_key(scope: Scope) -> bytes:
    if scope["type"] != "websocket":
        return b""
    for pair in scope.get("query_string", b"").split(b"&"):
        name, _, value = pair.partition(b"=")
        if name == b"api_key":
            return value
    return b""


class BodyPace:
    def __init__(self, app: ASGIApp, body_timeout_s: float, min_body_rate: float) -> None:
        self.app, self.gap, self.rate = app, body_timeout_s, min_body_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, received = time.monotonic(), 0

        async def paced() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), self.gap)
            except TimeoutError:
                raise HTTPException(408, self._slow(f"nothing for {self.gap:g} s")) from None
            received += len(message.get("body", b""))
            elapsed = time.monotonic() - started
            if elapsed > self.gap and received < self.rate * elapsed and message.get("more_body"):
                raise HTTPException(408, self._slow(f"{received / elapsed:.0f} bytes/s"))
            return message

        await self.app(scope, paced, send)

    def _slow(self, found: str) -> str:
        return (
            f"the request body came too slowly ({found}; this server needs at least "
            f"{self.rate:g} bytes/s with no gap over {self.gap:g} s); retry on a faster link"
        )


def guarded_h11(headers_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request headers are not all in
    within `headers_timeout_s` (counted from the connection, or from the last response)."""

    class GuardedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _cycle: Any = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and self.cycle is not self._cycle:  # headers are in
                self._cycle = self.cycle
                self._disarm()

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._disarm()  # a WebSocket keeps its own time (the stream's idle limit)
            super().handle_websocket_upgrade(event)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(headers_timeout_s, self.transport.close)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

    return GuardedH11


class UploadLimit:
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
        await error_reply(self._message(), status=413)(scope, receive, send)
