"""The Ray Serve front's relay, without Ray: a request played through an app in-process
streams its answer back piece by piece, and a request whose replica dies before answering
is sent again, or answered 503 in OpenAI's shape once every try has failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from wav2text.serving.relay import ATTEMPTS, Relayed, Start, front, play


class Died(Exception):
    """What a replica's death raises in the front (Ray: RayActorError)."""


async def pieces(request: Request) -> StreamingResponse:
    said = await request.body()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"heard ", said, b" ", request.url.query.encode()):
            yield part

    return StreamingResponse(parts(), headers={"x-kind": "echo"})


ECHO = Starlette(routes=[Route("/echo", pieces, methods=["POST"])])


def test_a_replayed_request_answers_in_the_pieces_the_app_sent() -> None:
    request = Relayed("POST", "/echo", b"q=1", ((b"host", b"replica"),), b"hello")

    async def collect() -> list[Start | bytes]:
        return [piece async for piece in play(ECHO, request)]

    start, *body = asyncio.run(collect())
    assert isinstance(start, Start) and start.status == 200
    assert (b"x-kind", b"echo") in start.headers
    assert body == [b"heard ", b"hello", b" ", b"q=1"]


def relaying(deaths: int) -> tuple[TestClient, list[Relayed]]:
    """A front whose first `deaths` replicas die before answering; what each was sent."""
    sent: list[Relayed] = []

    async def send(request: Relayed) -> AsyncIterator[Start | bytes]:
        sent.append(request)
        if len(sent) <= deaths:
            raise Died
        async for piece in play(ECHO, request):
            yield piece

    app = Starlette(routes=[Route("/{path:path}", front(send, (Died,)), methods=["POST"])])
    return TestClient(app), sent


def test_a_request_whose_replica_died_is_sent_to_another() -> None:
    client, sent = relaying(deaths=ATTEMPTS - 1)
    answer = client.post("/echo?q=2", content=b"again", headers={"x-request-id": "abc"})
    assert answer.status_code == 200 and answer.text == "heard again q=2"
    assert len(sent) == ATTEMPTS and len({s.body for s in sent}) == 1
    assert answer.headers["x-kind"] == "echo"
    assert all(dict(s.headers)[b"x-request-id"] == b"abc" for s in sent)  # one id throughout


def test_when_every_try_dies_the_answer_is_a_clear_503() -> None:
    client, sent = relaying(deaths=ATTEMPTS)  # the control: one death more than tries
    answer = client.post("/echo", content=b"lost", headers={"x-request-id": "abc"})
    assert answer.status_code == 503 and len(sent) == ATTEMPTS
    error = answer.json()["error"]
    assert error["type"] == "server_error" and error["request_id"] == "abc"
    assert "try again" in error["message"] and answer.headers["retry-after"]
    assert answer.headers["x-request-id"] == "abc"
