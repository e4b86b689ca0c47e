"""Replicas on Ray Serve, for more than one machine: the same HTTP API (transcriptions, live
streams, the page, /metrics per replica), each replica a Ray actor that loads its own copy
of the model. `wav2text serve --ray ADDRESS --replicas N`, or from Python:
`deploy(ModelOptions(...), replicas=2)` on a Ray cluster that `serve.start` has opened.

Two Ray Serve applications share the port. The front (route `/`, light, no model) relays
every HTTP request to a replica through a Ray handle and sends it again to another one if
the replica holding it dies before answering (serving.relay); all of them down, a JSON 503
with Retry-After. The live WebSocket cannot cross a handle, so its route
(`/v1/audio/stream`) is the replicas' own application, reached straight from Ray's proxy;
a stream whose replica dies is closed. Jobs stay with `wav2text serve` on one machine:
their state is one server's disk. Needs `pip install 'wav2text[ray-serve]'`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, cast

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..options import ModelOptions, ServerLimits, TranscribeOptions
from .guards import ApiKeys, UploadLimit
from .relay import Relayed, Start, front, play
from .replies import error_reply

DEPLOYMENT = "wav2text"  # the front's application and deployment
REPLICAS = "wav2text-replicas"  # the replicas' application and deployment
STREAM_ROUTE = "/v1/audio/stream"


class _Replica:
    """One copy of the server: its app answers the live WebSocket from Ray's proxy and
    the front's relayed requests (`relayed`)."""

    def __init__(self, model: ModelOptions, options: Any, limits: Any, keys: Any) -> None:
        self.parts = (model, options, limits, keys)

    def __serve_build_asgi_app__(self) -> ASGIApp:  # runs in the replica: the model loads here
        from ..pipeline import Transcriber
        from .server import create_app

        model, options, limits, keys = self.parts
        self.served = create_app(Transcriber(model), options, limits, keys)
        return _from_proxy(self.served)

    async def relayed(self, request: Relayed) -> AsyncIterator[Start | bytes]:
        async for piece in play(self.served, request):
            yield piece


def _from_proxy(app: ASGIApp) -> ASGIApp:
    """Ray's proxy gives the app its route as root_path; the app's routes are whole paths."""

    async def whole_paths(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "root_path": ""}
        await app(scope, receive, send)

    return whole_paths


def _front(limits: ServerLimits, api_keys: tuple[str, ...]) -> ASGIApp:  # in the front's replica
    from ray import serve
    from ray.exceptions import RayActorError
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.routing import Route

    replicas = serve.get_deployment_handle(REPLICAS, app_name=REPLICAS).options(stream=True)

    def send(request: Relayed) -> AsyncIterator[Start | bytes]:
        return cast(AsyncIterator[Start | bytes], replicas.relayed.remote(request))

    async def refused(_request: Any, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return error_reply(str(error.detail), status=error.status_code)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    guards = [Middleware(ApiKeys, keys=api_keys, error=error_reply)] if api_keys else []
    if limits.max_upload_mb is not None:  # the front holds each upload while it relays it
        guards.append(Middleware(UploadLimit, limit_mb=limits.max_upload_mb))
    return Starlette(
        routes=[Route("/{path:path}", front(send, (RayActorError,)), methods=methods)],
        middleware=guards,  # a request without a key is refused before its body is read
        exception_handlers={HTTPException: refused},
    )


def deploy(
    model: ModelOptions,
    options: TranscribeOptions | None = None,
    limits: ServerLimits = ServerLimits(),
    api_keys: tuple[str, ...] = (),
    replicas: int = 2,
    cpus_per_replica: float = 1.0,
) -> None:
    """Run `replicas` copies of the server and their front on the connected Ray cluster
    (after `serve.start`, which sets the HTTP host and port); returns once they answer."""
    from ray import serve

    copies = serve.deployment(
        name=REPLICAS,
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus_per_replica},
        max_ongoing_requests=limits.max_waiting + 1,  # one running, the rest waiting
    )(serve.ingress()(_Replica))
    serve.run(copies.bind(model, options, limits, api_keys), name=REPLICAS,
              route_prefix=STREAM_ROUTE)  # fmt: skip
    relays = serve.deployment(
        name=DEPLOYMENT,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=replicas * (limits.max_waiting + 1),  # the replicas hold the limit
    )

    def build_front() -> ASGIApp:
        return _front(limits, api_keys)

    serve.run(relays(serve.ingress(build_front)()).bind(), name=DEPLOYMENT, route_prefix="/")


def serve_on_ray(address: str | None, host: str, port: int, **deployed: Any) -> None:
    """`deploy(**deployed)` on the Ray cluster at `address` (None: $RAY_ADDRESS, else a new
    local one), its HTTP proxy on host:port, until interrupted."""
    from ray import serve

    from ..cluster import connect

    connect(address)
    serve.start(http_options={"host": host, "port": port})
    deploy(**deployed)
    while True:
        time.sleep(3600)
