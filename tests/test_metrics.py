"""The operator's view of the server: /metrics scraped after real requests, request ids on
every answer and error body, one JSON access-log line per request."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from wav2text import BUNDLED_MODEL, Transcriber
from wav2text.serving.server import create_app

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "conscience_rms_48k_stereo.opus"
URL = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def bundled() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_metrics_count_what_happened(bundled: Transcriber) -> None:
    client = TestClient(create_app(bundled))
    before = scrape(client)
    assert before[("wav2text_audio_seconds_total", ())] == 0
    with SAMPLE.open("rb") as file:
        done = client.post(
            URL, files={"file": ("a.opus", file)}, data={"response_format": "verbose_json"}
        )
    bad = client.post(URL, files={"file": ("a.txt", b"not audio at all")})
    refused = client.post(URL, files={"file": ("a.opus", b"")}, data={"response_format": "x"})
    assert (done.status_code, bad.status_code, refused.status_code) == (200, 400, 400)
    after = scrape(client)
    route = (("route", URL), ("status", "200"))
    assert after[("wav2text_requests_total", route)] == 1
    assert after[("wav2text_requests_total", (("route", URL), ("status", "400")))] == 2
    duration = done.json()["duration"]
    assert after[("wav2text_audio_seconds_total", ())] == pytest.approx(duration) and duration > 4
    assert after[("wav2text_model_seconds_per_audio_second_count", ())] == 1
    assert after[("wav2text_errors_total", (("type", "AudioDecodeError"),))] == 1
    assert after[("wav2text_request_seconds_count", (("route", URL),))] == 3
    assert after[("wav2text_queue_depth", ())] == 0
    assert after[("wav2text_live_streams", ())] == 0
    with client.websocket_connect("/v1/audio/stream?format=s16le&sample_rate=16000") as ws:
        assert scrape(client)[("wav2text_live_streams", ())] == 1
        ws.send_json({"type": "stop"})
        while ws.receive_json()["type"] != "done":
            pass
    assert scrape(client)[("wav2text_live_streams", ())] == 0
    client.get("/no/such/path/42")
    assert scrape(client)[("wav2text_requests_total", (("route", "other"), ("status", "404")))] == 1


def test_every_answer_and_error_body_carries_its_request_id(
    bundled: Transcriber, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_app(bundled))
    with caplog.at_level(logging.INFO, logger="wav2text.access"):
        bad = client.post(
            URL, files={"file": ("a.txt", b"not audio")}, headers={"X-Request-Id": "abc-1"}
        )
        fresh = client.post(URL, files={"file": ("a.txt", b"not audio")})
        odd = client.get("/health", headers={"X-Request-Id": "no spaces allowed\x01"})
    assert bad.headers["x-request-id"] == "abc-1" == bad.json()["error"]["request_id"]
    assert len(fresh.headers["x-request-id"]) == 32
    assert fresh.json()["error"]["request_id"] == fresh.headers["x-request-id"]
    assert odd.headers["x-request-id"] != "no spaces allowed\x01"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "wav2text.access"]
    assert [(line["request_id"], line["status"]) for line in lines[:2]] == [
        ("abc-1", 400),
        (fresh.headers["x-request-id"], 400),
    ]
    assert lines[0]["path"] == URL and lines[0]["method"] == "POST" and lines[0]["seconds"] >= 0


def test_metrics_need_a_key_where_keys_are_set(bundled: Transcriber) -> None:
    client = TestClient(create_app(bundled, api_keys=("k",)))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer k"}).status_code == 200
