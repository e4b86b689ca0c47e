"""Replicas on Ray Serve: two copies of the server on a local Ray instance answer the same
API, the live WebSocket included; with one of them killed mid-request, the requests it held
are answered by the other (the front resends them), and so is every request after it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from test_drain import long_file
from wav2text import (
    BUNDLED_MODEL,
    ModelOptions,
    RawFormat,
    TranscribeOptions,
    Transcriber,
)
from wav2text.options import ServerLimits

serve = pytest.importorskip("ray.serve", reason="needs the ray-serve extra")
URL = "/v1/audio/transcriptions"
UPLOAD_MB = 4


@pytest.fixture(scope="module")
def replicas() -> object:
    import ray

    from wav2text.serving.replicas import deploy

    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        limits = ServerLimits(max_upload_mb=UPLOAD_MB)
        deploy(ModelOptions(BUNDLED_MODEL), limits=limits, replicas=2, cpus_per_replica=0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def replica_actors() -> list[dict]:
    import ray

    names = ray.util.list_named_actors(all_namespaces=True)
    return [a for a in names if a["name"].startswith("SERVE_REPLICA::wav2text-replicas")]


def replica_processes() -> list[int]:
    """The pids of the replicas' processes (Ray titles each after its deployment)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if entry.name.isdigit() and title.startswith(b"ray::ServeReplica:wav2text-replicas"):
            pids.append(int(entry.name))
    return pids


def busiest(pids: list[int]) -> int:
    """The process that used the most CPU over half a second (and did use some)."""
    deadline = time.monotonic() + 60  # the requests may still be on their way
    while True:
        before = {pid: cpu_ticks(pid) for pid in pids}
        time.sleep(0.5)
        used = {pid: cpu_ticks(pid) - before[pid] for pid in pids}
        pid = max(used, key=lambda p: used[p])
        if used[pid] > 0 or time.monotonic() > deadline:
            assert used[pid] > 0, used
            return pid


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_two_replicas_answer_the_same_api(
    replicas: str, demo: Transcriber, speech_wav: Path
) -> None:
    assert len(replica_actors()) == 2
    expected = demo.transcribe(speech_wav).text
    for _ in range(2):
        files = {"file": ("fox.wav", speech_wav.read_bytes())}
        answer = httpx.post(f"{replicas}{URL}", files=files, timeout=120)
        assert answer.status_code == 200 and answer.json()["text"] == expected
    health = httpx.get(f"{replicas}/health")
    assert health.json()["model"] == "wav2text:demo-en" and health.headers["x-request-id"]


def test_an_upload_over_the_limit_is_refused(replicas: str) -> None:
    files = {"file": ("big.wav", bytes(UPLOAD_MB * 2**20 + 1))}
    answer = httpx.post(f"{replicas}{URL}", files=files, timeout=120)
    assert answer.status_code == 413 and "--max-upload-mb" in answer.json()["error"]["message"]


def test_the_live_stream_reaches_a_replica(replicas: str, demo: Transcriber) -> None:
    from websockets.sync.client import connect

    from test_streaming import speech

    audio = (speech() * 32767).astype("<i2").tobytes()
    url = replicas.replace("http", "ws") + "/v1/audio/stream?format=s16le&sample_rate=16000"
    with connect(url) as socket:
        for start in range(0, len(audio), 6400):
            socket.send(audio[start : start + 6400])
        socket.send(json.dumps({"type": "stop"}))
        events = [json.loads(message) for message in socket]
    offline = demo.transcribe(audio, TranscribeOptions(raw=RawFormat("s16le"), sample_rate=16000))
    assert [e["type"] for e in events].count("final") == 3
    assert events[-1]["type"] == "done" and events[-1]["text"] == offline.text


def test_a_replica_killed_mid_request_leaves_the_other_answering(
    replicas: str, tmp_path: Path
) -> None:

    body = long_file(tmp_path / "long.wav").read_bytes()
    statuses: list[int] = []

    def ask() -> None:
        files = {"file": ("long.wav", body)}
        statuses.append(httpx.post(f"{replicas}{URL}", files=files, timeout=120).status_code)

    asking = [threading.Thread(target=ask) for _ in range(4)]
    for thread in asking:
        thread.start()
    time.sleep(1.0)
    assert len(replica_processes()) == 2
    os.kill(busiest(replica_processes()), signal.SIGKILL)  # it holds requests: see them resent
    for thread in asking:
        thread.join()
    assert statuses == [200, 200, 200, 200]  # those the killed replica held were resent
    after = [httpx.post(f"{replicas}{URL}", files={"file": ("a.wav", body)}, timeout=120)
             for _ in range(3)]  # fmt: skip
    assert [a.status_code for a in after] == [200, 200, 200]
