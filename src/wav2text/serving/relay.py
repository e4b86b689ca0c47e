"""HTTP requests relayed to a replica and answered from there, retried on another replica
when the one holding a request dies before answering (serving.replicas' front).

A request crosses as a `Relayed` (method, path, headers, the whole body); the replica
plays it through its own app in-process (`play`) and streams the answer back as it is
made: first its status and headers, then its body in the pieces the app sent, so a
streamed transcription stays streamed. Only a request whose replica died before its
answer started is sent again: a transcription is idempotent, and a client has seen
nothing of it yet. Starlette/httpx do not do this: httpx's ASGI transport holds the whole
answer before returning it, and Ray Serve's proxy does not resend a request a replica had
started.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message

from .metrics import chosen_request_id
from .replies import error_body

ATTEMPTS = 3  # the first replica and two others
RETRY_AFTER_S = 5
FRAMING = {b"content-length", b"transfer-encoding"}  # the front's response frames its own


@dataclass(frozen=True)
class Relayed:
    """An HTTP request as it crosses to a replica."""

    method: str
    path: str
    query_string: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    client: tuple[str, int] | None = None


@dataclass(frozen=True)
class Start:
    """The first thing a replica sends back: the answer's status and headers."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]


async def play(app: ASGIApp, request: Relayed) -> AsyncIterator[Start | bytes]:
    """Answer `request` with `app` in this process: its Start, then its body's pieces."""
    sent: asyncio.Queue[Message] = asyncio.Queue()
    answered = asyncio.Event()
    body = [{"type": "http.request", "body": request.body, "more_body": False}]

    async def receive() -> Message:
        if body:
            return body.pop()
        await answered.wait()
        return {"type": "http.disconnect"}

    task = asyncio.ensure_future(app(_scope(request), receive, sent.put))
    try:
        while True:
            message = await _next(sent, task)
            if message["type"] == "http.response.start":
                yield Start(message["status"], tuple(message.get("headers", ())))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    yield message["body"]
                if not message.get("more_body", False):
                    return
    finally:
        answered.set()
        task.cancel()


async def _next(sent: asyncio.Queue[Message], task: asyncio.Future) -> Message:
    """The app's next message; its exception if it ended without one."""
    getting = asyncio.ensure_future(sent.get())
    await asyncio.wait({getting, task}, return_when=asyncio.FIRST_COMPLETED)
    if getting.done():
        return getting.result()
    getting.cancel()
    task.result()  # raises what the app raised
    raise RuntimeError("the app ended without answering")


def _scope(request: Relayed) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": request.path,
        "raw_path": request.path.encode(),
        "query_string": request.query_string,
        "root_path": "",
        "headers": list(request.headers),
        "client": request.client,
        "server": None,
    }


Send = Callable[[Relayed], AsyncIterator[Start | bytes]]
Route = Callable[[Request], Awaitable[Response]]


def front(send: Send, died: tuple[type[BaseException], ...]) -> Route:
    """The front's one route: relay the request with `send` (a replica's stream of Start
    and body), resending it while the replica that held it dies (`died`) before it answers."""

    async def relay(request: Request) -> Response:
        rid = chosen_request_id(request.headers.get("x-request-id", ""))
        relayed = await _relayed(request, rid)
        for _ in range(ATTEMPTS):
            answer = send(relayed)
            try:
                start = await anext(answer)
            except died:
                continue
            assert isinstance(start, Start)
            response = StreamingResponse(_body(answer), start.status)
            response.raw_headers = [(k, v) for k, v in start.headers if k.lower() not in FRAMING]
            return response
        return _unavailable(rid)

    return relay


async def _relayed(request: Request, rid: str) -> Relayed:
    headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"x-request-id"]
    client = (request.client.host, request.client.port) if request.client else None
    return Relayed(
        request.method,
        request.url.path,
        request.scope.get("query_string", b""),
        (*headers, (b"x-request-id", rid.encode())),
        await request.body(),
        client,
    )


async def _body(answer: AsyncIterator[Start | bytes]) -> AsyncIterator[bytes]:
    async for piece in answer:
        assert isinstance(piece, bytes)
        yield piece


def _unavailable(rid: str) -> JSONResponse:
    message = (
        f"no replica could answer: the ones that took this request stopped ({ATTEMPTS} tries); "
        f"the server is replacing them, try again in a few seconds"
    )
    body = error_body(message, "server_error", None)
    body["error"]["request_id"] = rid
    headers = {"retry-after": str(RETRY_AFTER_S), "x-request-id": rid}
    return JSONResponse(body, status_code=503, headers=headers)
