"""Replicas on Ray Serve: two copies of the server on a local Ray instance answer the same
API; with one of them killed mid-request, the requests it held fail (Ray's proxy: 500), and
every request after it is answered by the other."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from test_drain import long_file
from wav2text import BUNDLED_MODEL, ModelOptions, Transcriber

serve = pytest.importorskip("ray.serve", reason="needs the ray-serve extra")
URL = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def replicas() -> object:
    import ray

    from wav2text.serving.replicas import DEPLOYMENT, application

    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = application(ModelOptions(BUNDLED_MODEL), replicas=2, cpus_per_replica=0.5)
        serve.run(app, name=DEPLOYMENT, route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def replica_actors() -> list[dict]:
    import ray

    names = ray.util.list_named_actors(all_namespaces=True)
    return [a for a in names if a["name"].startswith("SERVE_REPLICA::wav2text")]


def test_two_replicas_answer_the_same_api(
    replicas: str, demo: Transcriber, speech_wav: Path
) -> None:
    assert len(replica_actors()) == 2
    expected = demo.transcribe(speech_wav).text
    for _ in range(2):
        files = {"file": ("fox.wav", speech_wav.read_bytes())}
        answer = httpx.post(f"{replicas}{URL}", files=files, timeout=120)
        assert answer.status_code == 200 and answer.json()["text"] == expected
    assert httpx.get(f"{replicas}/health").json()["model"] == "wav2text:demo-en"


def test_a_replica_killed_mid_request_leaves_the_other_answering(
    replicas: str, tmp_path: Path
) -> None:
    import ray

    body = long_file(tmp_path / "long.wav").read_bytes()
    statuses: list[int] = []

    def ask() -> None:
        files = {"file": ("long.wav", body)}
        statuses.append(httpx.post(f"{replicas}{URL}", files=files, timeout=120).status_code)

    asking = [threading.Thread(target=ask) for _ in range(4)]
    for thread in asking:
        thread.start()
    time.sleep(1.0)  # both replicas busy
    victim = replica_actors()[0]
    ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
    for thread in asking:
        thread.join()
    assert set(statuses) <= {200, 500} and statuses.count(200) >= 1, statuses
    after = [httpx.post(f"{replicas}{URL}", files={"file": ("a.wav", body)}, timeout=120)
             for _ in range(3)]  # fmt: skip
    assert [a.status_code for a in after] == [200, 200, 200]
