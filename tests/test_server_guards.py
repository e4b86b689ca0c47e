"""A server safe on a network: keys, slow clients cut off, bounded work, errors in OpenAI's
shape. The fault test runs a real uvicorn on loopback with short timeouts, bounded in count
and time, and prints what it measured."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from conftest import ffmpeg, free_port, noisy_tone, serving
from wav2text import BUNDLED_MODEL, Transcriber
from wav2text.audio import open_audio, to_mono
from wav2text.options import ServerLimits
from wav2text.serving.server import create_app, server_config
from wav_files import write_s16_wav

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "conscience_rms_48k_stereo.opus"

KEY = "sk-test-0123456789"


@pytest.fixture(scope="module")
def demo() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("guards")
    pcm = (noisy_tone(1.0, 16000) * 20000).astype(np.int16)
    return write_s16_wav(folder / "a.wav", [pcm], 16000)


def post(
    client: TestClient, clip: Path, headers: dict | None = None, **form: str
) -> httpx.Response:
    with clip.open("rb") as file:
        return client.post("/v1/audio/transcriptions", files={"file": ("a.wav", file)},
                           data=form, headers=headers or {})  # fmt: skip


def test_api_keys(demo: Transcriber, clip: Path) -> None:
    client = TestClient(create_app(demo, api_keys=(KEY, "second-key")))
    missing = post(client, clip)
    assert missing.status_code == 401 and "needs an API key" in missing.json()["error"]["message"]
    wrong = post(client, clip, {"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401 and "does not know" in wrong.json()["error"]["message"]
    for key in (KEY, "second-key"):
        assert post(client, clip, {"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/health").status_code == 200 and client.get("/").status_code == 200
    assert client.get("/v1/models").status_code == 401
    url = "/v1/audio/stream?format=s16le&sample_rate=16000"
    for query, said in (("", "no API key"), ("&api_key=sk-wrong", "does not know")):
        with pytest.raises(WebSocketDenialResponse) as refused:
            client.websocket_connect(url + query).__enter__()
        body = refused.value.json()["error"]
        assert refused.value.status_code == 401 and said in body["message"]
        assert "?api_key=KEY" in body["message"] and body["request_id"]
    with client.websocket_connect(f"{url}&api_key={KEY}") as ws:
        ws.send_text(json.dumps({"type": "stop"}))
        assert ws.receive_json()["type"] == "done"


def test_negative_control_without_keys_anyone_gets_in(demo: Transcriber, clip: Path) -> None:
    assert post(TestClient(create_app(demo)), clip).status_code == 200


def test_keys_from_the_command_line_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from wav2text.cli import _api_keys

    monkeypatch.setenv("WAV2TEXT_API_KEY", "a, b,")
    assert _api_keys(["c"]) == ("c", "a", "b")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"channels": "\u0661"}, "channels must be a whole number"),  # Arabic-Indic one
        ({"raw": "s16le", "channels": "9" * 5000}, "channels must be a whole number"),
        ({"temperature": "hot"}, None),  # accepted and ignored, as OpenAI clients send it
    ],
)
def test_every_field_parsed_one_way(
    demo: Transcriber, clip: Path, form: dict, message: str | None
) -> None:
    answer = post(TestClient(create_app(demo)), clip, **form)
    if message is None:
        assert answer.status_code == 200
    else:
        assert answer.status_code == 400 and message in answer.json()["error"]["message"]


def test_a_bug_is_a_json_500_and_the_server_goes_on(
    demo: Transcriber, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wav2text.serving.server as server

    client = TestClient(create_app(demo), raise_server_exceptions=False)
    monkeypatch.setattr(server, "_respond", lambda *_: 1 / 0)
    broken = post(client, clip)
    assert broken.status_code == 500 and broken.json()["error"]["type"] == "server_error"
    assert "ZeroDivisionError" in broken.json()["error"]["message"]
    monkeypatch.undo()
    assert post(client, clip).status_code == 200


def test_limits_refuse_nonsense_at_construction() -> None:
    from wav2text import OptionsError

    for bad in ({"max_upload_mb": float("nan")}, {"max_upload_mb": float("inf")},
                {"max_audio_s": 0}, {"headers_timeout_s": float("nan")}):  # fmt: skip
        with pytest.raises(OptionsError):
            ServerLimits(**bad)  # type: ignore[arg-type]


def test_stream_true_gets_openais_events(demo: Transcriber, clip: Path) -> None:
    from openai import OpenAI

    client = TestClient(create_app(demo))
    openai = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    expected = demo.transcribe(clip)
    with clip.open("rb") as file:
        events = list(openai.audio.transcriptions.create(model="whisper-1", file=file, stream=True))
    assert [e.type for e in events][-1] == "transcript.text.done"
    assert events[-1].text == expected.text
    assert "".join(e.delta for e in events[:-1]) == expected.text


def test_stream_true_sends_words_before_the_file_is_done(demo: Transcriber, tmp_path: Path) -> None:
    """A long upload (the sample 12 times, with pauses) over a real server: the first delta
    arrives while forward passes are still to come, and the deltas add up to the text."""
    opened = open_audio(SAMPLE)
    one = (np.concatenate(list(to_mono(opened))) * 32767).astype(np.int16)
    rate = opened.rate
    assert rate
    long_file = write_s16_wav(tmp_path / "long.wav", [one, np.zeros(2 * rate, np.int16)] * 12, rate)
    expected = demo.transcribe(long_file).text
    passes: list[int] = []
    forward = demo.model.log_probs_batch

    def counted(*args: object, **kwargs: object) -> list[np.ndarray]:
        passes.append(1)
        return forward(*args, **kwargs)  # type: ignore[arg-type]

    demo.model.log_probs_batch = counted  # type: ignore[method-assign]
    try:
        with serving(create_app(demo)) as port, long_file.open("rb") as file:
            events, passes_at_first_delta = [], None
            url = f"http://127.0.0.1:{port}/v1/audio/transcriptions"
            fields = {"stream": "true"}
            with httpx.stream("POST", url, files={"file": file}, data=fields, timeout=60) as got:
                for line in got.iter_lines():
                    if line.startswith("data: "):
                        events.append(json.loads(line[6:]))
                        passes_at_first_delta = passes_at_first_delta or len(passes)
    finally:
        del demo.model.log_probs_batch
    deltas = [e["delta"] for e in events if e["type"] == "transcript.text.delta"]
    assert events[-1] == {"type": "transcript.text.done", "text": expected}
    assert "".join(deltas) == expected and len(deltas) > 2
    assert passes_at_first_delta is not None and passes_at_first_delta < len(passes) / 2


def test_audio_past_the_limit_stops_early(demo: Transcriber, tmp_path: Path) -> None:
    """A header declaring an hour is refused before decoding; a bomb (3 min of silent Opus
    in a few kB) stops at the limit, in a fraction of the time its whole length costs."""
    client = TestClient(create_app(demo, limits=ServerLimits(max_audio_s=20)))
    bomb = tmp_path / "bomb.opus"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "180", "-b:a", "6k", str(bomb))
    assert bomb.stat().st_size < 200_000
    started = time.monotonic()
    with bomb.open("rb") as file:
        answer = client.post("/v1/audio/transcriptions", files={"file": ("b.opus", file)})
    took = time.monotonic() - started
    said = answer.json()["error"]["message"]
    assert answer.status_code == 413 and "more than the 20 s allowed" in said
    unlimited = TestClient(create_app(demo))
    started = time.monotonic()
    with bomb.open("rb") as file:
        whole = unlimited.post("/v1/audio/transcriptions", files={"file": ("b.opus", file)})
    assert whole.status_code == 200
    assert took < (time.monotonic() - started) / 3
    declared = tmp_path / "long.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "60", str(declared))
    with declared.open("rb") as file:
        answer = client.post("/v1/audio/transcriptions", files={"file": ("l.flac", file)})
    assert answer.status_code == 413 and "declares 60 s" in answer.json()["error"]["message"]


def test_a_lying_header_rate_is_refused_at_once(demo: Transcriber, tmp_path: Path) -> None:
    wav = write_s16_wav(tmp_path / "one_hz.wav", [np.zeros(30000, np.int16)], 1)
    client = TestClient(create_app(demo))
    started = time.monotonic()
    with wav.open("rb") as file:
        answer = client.post("/v1/audio/transcriptions", files={"file": ("x.wav", file)})
    assert answer.status_code == 400 and "declares 1 Hz" in answer.json()["error"]["message"]
    assert time.monotonic() - started < 5


# --- a real server under slow clients ---------------------------------------------------------

FAST = ServerLimits(headers_timeout_s=1.0, body_timeout_s=1.0, min_body_rate=10_000)


@pytest.fixture(scope="module")
def real_server(demo: Transcriber) -> Iterator[tuple[str, int]]:
    app = create_app(demo, limits=FAST, api_keys=(KEY,))
    config = server_config(app, "127.0.0.1", free_port(), FAST)
    config.log_level = "error"
    with serving(app, config) as port:
        yield "127.0.0.1", port


def _closed_within(connection: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closes the connection (None if it did not)."""
    connection.settimeout(seconds)
    started = time.monotonic()
    try:
        while connection.recv(4096):
            pass
        return time.monotonic() - started
    except TimeoutError:
        return None
    except ConnectionResetError:
        return time.monotonic() - started


def test_slow_clients_are_cut_off_and_normal_ones_served(
    real_server: tuple[str, int], clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = real_server
    slow_headers = []
    for _ in range(30):  # slowloris: a request line and one header, never finished
        s = socket.create_connection((host, port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        slow_headers.append(s)
    stalled_bodies = []
    for _ in range(10):  # a body declared, a few bytes sent, then nothing
        s = socket.create_connection((host, port))
        head = (
            "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: multipart/form-data; "
            "boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"
        )
        s.sendall(head.encode())
        stalled_bodies.append(s)
    latencies = []
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
        for _ in range(20):
            started = time.monotonic()
            assert client.get("/health").status_code == 200
            latencies.append(time.monotonic() - started)
        with clip.open("rb") as file:
            started = time.monotonic()
            answer = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", file)},
                                 headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
            latencies.append(time.monotonic() - started)
        assert answer.status_code == 200
        assert client.post("/v1/audio/transcriptions").status_code == 401
    closed_headers = [_closed_within(s, 5) for s in slow_headers]
    closed_bodies = [_closed_within(s, 5) for s in stalled_bodies]
    for s in slow_headers + stalled_bodies:
        s.close()
    assert all(t is not None for t in closed_headers), "every slow header block is closed"
    assert all(t is not None for t in closed_bodies), "every stalled body is closed"
    with capsys.disabled():
        print(f"\n  normal requests beside 30 slowloris and 10 stalled bodies: latency median "
              f"{np.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
              f"stalled connections closed within {max(closed_headers + closed_bodies):.1f} s "
              f"(timeouts {FAST.headers_timeout_s:g} s / {FAST.body_timeout_s:g} s)")  # fmt: skip
    assert max(latencies) < 10


def test_negative_control_plain_uvicorn_keeps_slow_headers_open(demo: Transcriber) -> None:
    """Without the guarded protocol, a header block that never ends stays open."""
    with serving(create_app(demo)) as port:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert _closed_within(s, 3) is None
        s.close()


def test_binding_beyond_loopback_without_a_key_warns(tiny_dir: Path) -> None:
    import sys

    port = str(free_port())
    command = [sys.executable, "-m", "wav2text", "serve", "-m", str(tiny_dir), "--host", "0.0.0.0",
               "--port", port]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "warning" not in line and time.monotonic() < deadline:
            line = process.stderr.readline() if process.stderr else ""
        assert "without an API key" in line
    finally:
        process.terminate()
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()  # never left running to hold ports or folders for later tests
            process.communicate()
