"""The live WebSocket: the protocol, finals equal to offline, many streams, limits."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import need_tool
from wav2text import BUNDLED_MODEL, RawFormat, TranscribeOptions, Transcriber
from wav2text.audio import open_audio, to_mono
from wav2text.options import ServerLimits
from wav2text.serving.server import create_app

SENTENCES = ["never go to bed mad", "the quick brown fox jumps over the lazy dog", "she said"]
RATE = 16000
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "conscience_rms_48k_stereo.opus"


def speech(rate: int = RATE) -> np.ndarray:
    """Three sentences with a second of silence between them: three finals."""
    need_tool("espeak-ng")
    parts = []
    for sentence in SENTENCES:
        wav = subprocess.run(["espeak-ng", "--stdout", sentence], capture_output=True).stdout
        with wave.open(io.BytesIO(wav)) as f:
            x = np.frombuffer(f.readframes(f.getnframes()), "<i2") / 32768
            parts += [soxr.resample(x, f.getframerate(), rate), np.zeros(rate)]
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="module")
def demo() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)  # with its language model, as offline by default


@pytest.fixture(scope="module")
def s16() -> bytes:
    return (speech() * 32767).astype("<i2").tobytes()


def stream(client: TestClient, url: str, data: bytes, chunk: int = 3200) -> list[dict[str, Any]]:
    """Send the audio in chunks, then stop; every event until done (or an error)."""
    events = []
    with client.websocket_connect(url) as socket:
        for i in range(0, len(data), chunk):
            socket.send_bytes(data[i : i + chunk])
        socket.send_text(json.dumps({"type": "stop"}))
        while not events or events[-1]["type"] != "done":
            events.append(socket.receive_json())
    return events


def test_a_stream_whose_declared_rate_is_wrong_gets_a_warning(demo: Transcriber) -> None:
    """44.1 kHz sent as 16 kHz: a warning event with the likely rate (and in done), where
    the offline text would otherwise be nonsense with nothing said; none for the truth."""
    client = TestClient(create_app(demo))
    opened = open_audio(SAMPLE)  # a real voice, read at 44.1 kHz
    assert opened.rate
    samples = soxr.resample(np.concatenate(list(to_mono(opened))), opened.rate, 44100)
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    events = stream(client, "/v1/audio/stream?format=s16le&sample_rate=16000", data, 8820)
    (warning,) = [e for e in events if e["type"] == "warning"]
    assert "declared 16000 Hz" in warning["message"] and "like 44100 Hz" in warning["message"]
    kinds = [e["type"] for e in events]
    assert kinds.index("warning") < kinds.index("final")  # heard before any final
    assert events[-1]["warnings"] == [warning["message"]]
    honest = stream(client, "/v1/audio/stream?format=s16le&sample_rate=44100", data, 8820)
    assert [e for e in honest if e["type"] == "warning"] == [] and honest[-1]["warnings"] == []
    off = "/v1/audio/stream?format=s16le&sample_rate=16000&check_rate=false"
    assert stream(client, off, data, 8820)[-1]["warnings"] == []  # the control
    strict = "/v1/audio/stream?format=s16le&sample_rate=16000&check_rate=strict"
    longer = data * 3  # more than the check needs: the stream stops taking it
    with client.websocket_connect(strict) as socket:
        for i in range(0, len(longer), 8820):
            socket.send_bytes(longer[i : i + 8820])
        event = socket.receive_json()
        while event["type"] not in ("error", "done"):
            event = socket.receive_json()
        assert event["type"] == "error" and "declare sample_rate=44100" in event["message"]
        with pytest.raises(WebSocketDisconnect):  # the stream takes no more audio
            socket.receive_json()


def test_finals_equal_the_offline_transcript(demo: Transcriber, s16: bytes) -> None:
    client = TestClient(create_app(demo))
    events = stream(client, f"/v1/audio/stream?format=s16le&sample_rate={RATE}", s16)
    offline = demo.transcribe(s16, TranscribeOptions(raw=RawFormat("s16le"), sample_rate=RATE))
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) == 3 and events[-1]["text"] == offline.text
    assert " ".join(e["text"] for e in finals) == offline.text
    words = [w for e in finals for w in e["words"]]
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        (w.text, w.start, w.end) for w in offline.words
    ]
    kinds = [e["type"] for e in events]
    assert kinds.index("partial") < kinds.index("final")  # heard before it is final


def test_any_rate_and_layout_is_brought_to_the_model(demo: Transcriber) -> None:
    """44.1 kHz stereo float32, as a browser captures it: the words of the 16 kHz stream."""
    mono = speech(44100)
    stereo = np.stack([mono, mono], axis=1).astype("<f4").tobytes()
    client = TestClient(create_app(demo))
    url = "/v1/audio/stream?format=f32le&sample_rate=44100&channels=2"
    done = stream(client, url, stereo, chunk=44100 * 8 // 10)[-1]
    offline = demo.transcribe(mono, TranscribeOptions(sample_rate=44100))
    assert done["text"] == offline.text and done["audio"]["channels"] == 2
    assert (
        done["audio"]["steps"]
        == "decode pcm_f32le -> downmix 2->1 (mean) -> resample 44100->16000 Hz"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "declares no audio format"),
        ("?format=s16le", "declares no audio format"),
        ("?format=mp3&sample_rate=16000", "unknown raw sample format"),
        ("?format=s16le&sample_rate=0", "not plausible"),
        ("?format=s16le&sample_rate=auto", "needs its rate"),
        ("?format=s16le&sample_rate=16000&channels=x", "channels must be"),
    ],
)
def test_a_stream_that_declares_no_audio_is_refused(
    demo: Transcriber, query: str, message: str
) -> None:
    client = TestClient(create_app(demo))
    with client.websocket_connect(f"/v1/audio/stream{query}") as socket:
        error = socket.receive_json()
        assert error["type"] == "error" and message in error["message"]
        assert "/v1/audio/stream?format=s16le&sample_rate=16000" in error["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1008


def test_a_server_at_capacity_refuses_a_new_stream(demo: Transcriber) -> None:
    client = TestClient(create_app(demo, limits=ServerLimits(max_streams=1)))
    url = f"/v1/audio/stream?format=s16le&sample_rate={RATE}"
    with client.websocket_connect(url) as first:
        first.send_bytes(bytes(3200))
        with client.websocket_connect(url) as second:
            refused = second.receive_json()
            assert "at capacity (1 live streams)" in refused["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_json()
            assert closed.value.code == 1013
        first.send_text(json.dumps({"type": "stop"}))
        assert _until_done(first)["type"] == "done"
    assert stream(client, url, bytes(3200))[-1]["type"] == "done"  # its slot is free again


def _until_done(socket: Any) -> dict[str, Any]:
    while (event := socket.receive_json())["type"] != "done":
        pass
    return event


def test_an_idle_stream_is_closed(demo: Transcriber) -> None:
    client = TestClient(create_app(demo, limits=ServerLimits(stream_idle_s=0.3)))
    with client.websocket_connect(f"/v1/audio/stream?format=s16le&sample_rate={RATE}") as socket:
        socket.send_bytes(bytes(3200))
        error = socket.receive_json()
        assert error["type"] == "error" and "no audio for 0.3 s" in error["message"]
        assert _until_done(socket)["duration"] == pytest.approx(0.1)


def test_a_stream_stops_at_its_maximum_duration(demo: Transcriber, s16: bytes) -> None:
    client = TestClient(create_app(demo, limits=ServerLimits(stream_max_s=1.0)))
    with client.websocket_connect(f"/v1/audio/stream?format=s16le&sample_rate={RATE}") as socket:
        for i in range(0, 3 * 32000, 3200):
            socket.send_bytes(s16[i : i + 3200])
        events = []
        while not events or events[-1]["type"] != "done":
            events.append(socket.receive_json())
    assert any("maximum of 1 s" in e.get("message", "") for e in events)
    assert events[-1]["duration"] == 1.0  # cut at the sample: not 1.1 s (a whole last frame)


def test_an_unknown_text_message_gets_an_error_event(demo: Transcriber) -> None:
    client = TestClient(create_app(demo))
    with client.websocket_connect(f"/v1/audio/stream?format=s16le&sample_rate={RATE}") as socket:
        socket.send_text('{"type": "pause"}')
        error = socket.receive_json()
        assert error["type"] == "error" and '{"type": "stop"}' in error["message"]
        socket.send_text(json.dumps({"type": "stop"}))
        assert _until_done(socket)["type"] == "done"  # the stream went on after it


def test_streams_and_files_interleave(demo: Transcriber, s16: bytes) -> None:
    """While one stream stays open (its client sending slowly), a second stream and a
    file request are answered: the model is held one forward pass at a time."""
    client = TestClient(create_app(demo))
    url = f"/v1/audio/stream?format=s16le&sample_rate={RATE}"
    finished: dict[str, float] = {}

    def slow() -> None:
        with client.websocket_connect(url) as socket:
            for i in range(0, len(s16), 3200):
                socket.send_bytes(s16[i : i + 3200])
                time.sleep(0.02)
            socket.send_text(json.dumps({"type": "stop"}))
            _until_done(socket)
        finished["slow"] = time.monotonic()

    opened = threading.Thread(target=slow)
    opened.start()
    time.sleep(0.5)
    quick = stream(client, url, s16[: 2 * 32000])
    finished["quick"] = time.monotonic()
    with_header = io.BytesIO()  # a WAV: raw PCM would add the check of its given rate
    with wave.open(with_header, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE)
        out.writeframes(s16)
    answer = client.post("/v1/audio/transcriptions",
                         files={"file": ("a.wav", with_header.getvalue())})  # fmt: skip
    finished["file"] = time.monotonic()
    opened.join()
    assert quick[-1]["type"] == "done" and answer.status_code == 200
    assert finished["quick"] < finished["slow"] and finished["file"] < finished["slow"]


def test_the_documented_python_client_runs(demo: Transcriber, s16: bytes, tmp_path: Path) -> None:
    """docs/server.md's client, as written, against a real server."""
    import re
    import sys

    from conftest import free_port, serving

    page = (Path(__file__).resolve().parents[1] / "docs" / "server.md").read_text()
    code = re.search(r"### Python client\n\n```python\n(.*?)```", page, re.S)
    assert code, "docs/server.md shows the client"
    port = free_port()
    client = tmp_path / "client.py"
    client.write_text(code.group(1).replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    talk = tmp_path / "talk.wav"
    with wave.open(str(talk), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(s16)
    import uvicorn

    config = uvicorn.Config(create_app(demo), port=port, log_level="warning")
    with serving(None, config):
        command = [sys.executable, str(client), str(talk)]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stderr[-500:]
    assert lines[-1].startswith("done NEVER GO TO BED") and any(
        line.startswith("final ") for line in lines
    )
