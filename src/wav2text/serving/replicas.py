"""Replicas on Ray Serve, for more than one machine: the same HTTP API (transcriptions, live
streams, the page, /metrics per replica), each replica a Ray actor that loads its own copy
of the model, requests spread over them by Ray Serve's proxy. `wav2text serve --ray ADDRESS
--replicas N`, or from Python: `serve.run(application(ModelOptions(...), replicas=2))`.

Jobs stay with `wav2text serve` on one machine: their state is one server's disk.
Needs `pip install 'wav2text[server,ray]'` (Ray Serve).
"""

from __future__ import annotations

from typing import Any

from ..options import ModelOptions, ServerLimits, TranscribeOptions

DEPLOYMENT = "wav2text"


def application(
    model: ModelOptions,
    options: TranscribeOptions | None = None,
    limits: ServerLimits = ServerLimits(),
    api_keys: tuple[str, ...] = (),
    replicas: int = 2,
    cpus_per_replica: float = 1.0,
) -> Any:
    """A Ray Serve application (for `serve.run`) of `replicas` copies of the server."""
    from ray import serve

    def build() -> Any:  # runs in each replica: the model is loaded there, not here
        from ..pipeline import Transcriber
        from .server import create_app

        return create_app(Transcriber(model), options, limits, api_keys)

    deployment = serve.deployment(
        name=DEPLOYMENT,
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus_per_replica},
        max_ongoing_requests=limits.max_waiting + 1,  # one running, the rest waiting
    )(serve.ingress(build)())
    return deployment.bind()


def serve_on_ray(
    address: str | None,
    host: str,
    port: int,
    app: Any,
) -> None:
    """Run `app` (from `application`) on the Ray cluster at `address` (None: $RAY_ADDRESS,
    else a new local one), its HTTP proxy on host:port, until interrupted."""
    from ray import serve

    from ..cluster import connect

    connect(address)
    serve.start(http_options={"host": host, "port": port})
    serve.run(app, name=DEPLOYMENT, route_prefix="/", blocking=True)
