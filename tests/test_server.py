"""The HTTP shell: OpenAI's transcription endpoint, answered by the library, errors in its shape."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import httpx
import numpy as np
import pytest
import soxr
from fastapi.testclient import TestClient

from conftest import free_port, tone
from wav2text import BUNDLED_MODEL, TranscribeOptions, Transcriber
from wav2text.audio import open_audio, to_mono
from wav2text.options import ServerLimits
from wav2text.serving.server import create_app
from wav_files import write_s16_wav

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "conscience_rms_48k_stereo.opus"
URL = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def bundled() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)


@pytest.fixture(scope="module")
def client(bundled: Transcriber) -> TestClient:
    return TestClient(create_app(bundled))


def post(client: TestClient, path: Path, **fields: object) -> httpx.Response:
    with path.open("rb") as file:
        return client.post(URL, files={"file": (path.name, file)}, data=fields)


def test_openai_client_gets_the_library_transcript(
    bundled: Transcriber, client: TestClient
) -> None:
    from openai import OpenAI

    expected = bundled.transcribe(SAMPLE)
    openai = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    with SAMPLE.open("rb") as file:
        plain = openai.audio.transcriptions.create(model="whisper-1", file=file)
    assert plain.text == expected.text and len(expected.text) > 20
    with SAMPLE.open("rb") as file:
        verbose = openai.audio.transcriptions.create(
            model="whisper-1",
            file=file,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert verbose.text == expected.text
    assert verbose.duration == pytest.approx(expected.duration)
    assert verbose.words is not None and verbose.segments is not None
    assert [(w.word, w.start, w.end) for w in verbose.words] == [
        (w.text, w.start, w.end) for w in expected.words
    ]
    assert [s.text for s in verbose.segments] == [s.text for s in expected.segments]
    assert [m.id for m in openai.models.list()] == [BUNDLED_MODEL]


def test_subtitle_and_text_formats(bundled: Transcriber, client: TestClient) -> None:
    expected = bundled.transcribe(SAMPLE)
    assert post(client, SAMPLE, response_format="text").text == expected.text + "\n"
    srt = post(client, SAMPLE, response_format="srt")
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert srt.text.startswith("1\n00:00:0") and expected.segments[0].text in srt.text
    vtt = post(client, SAMPLE, response_format="vtt").text
    assert vtt.startswith("WEBVTT") and " --> " in vtt


def test_headerless_pcm_with_its_rate_gives_the_same_text(
    bundled: Transcriber, client: TestClient, tmp_path: Path
) -> None:
    pcm = _pcm(soxr.resample(np.concatenate(list(to_mono(open_audio(SAMPLE)))), 48000, 16000))
    raw = tmp_path / "call.raw"
    raw.write_bytes(pcm.astype("<i2").tobytes())
    wav = write_s16_wav(tmp_path / "call.wav", [pcm], 16000)
    as_wav = post(client, wav).json()["text"]
    assert post(client, raw, raw="s16le", sample_rate="16000").json()["text"] == as_wav
    refused = post(client, raw, raw="s16le")  # negative control: no rate, no guess
    assert refused.status_code == 400 and "sample_rate" in refused.json()["error"]["message"]


def _pcm(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def _tone_wav(path: Path, rate: int) -> Path:
    return write_s16_wav(path, [_pcm(tone(1.0, rate))], rate)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"response_format": "mp3"}, "response_format must be one of"),
        ({"timestamp_granularities[]": "word"}, "word timestamps need response_format"),
        ({"timestamp_granularities[]": "frame", "response_format": "verbose_json"}, "takes word"),
        ({"sample_rate": "fast"}, "sample_rate: a sampling rate is a whole number"),
        ({"sample_rate": "²"}, "sample_rate: a sampling rate is a whole number"),
        ({"sample_rate": "١٦٠٠٠"}, "sample_rate: a sampling rate is a whole number"),
        ({"sample_rate": "9" * 5000}, "sample_rate: a sampling rate is a whole number"),
        ({"raw": "mp3"}, "raw must be one of"),
        ({"channels": "2"}, "channels describes raw input"),
        ({"sample_rate": "0"}, "sampling rate 0 Hz is not plausible"),  # not taken as "none"
    ],
)
def test_bad_fields_are_openai_style_errors(
    client: TestClient, tmp_path: Path, fields: dict, message: str
) -> None:
    wav = _tone_wav(tmp_path / "tone.wav", 16000)
    response = post(client, wav, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_bad_audio_and_missing_file_are_errors_and_the_server_goes_on(
    client: TestClient, tmp_path: Path
) -> None:
    junk = tmp_path / "notes.mp3"
    junk.write_text("not audio")
    response = post(client, junk)
    assert response.status_code == 400
    assert "not a readable audio" in response.json()["error"]["message"]
    missing = client.post(URL, data={"model": "whisper-1"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "file"
    assert post(client, SAMPLE).status_code == 200


def test_request_options_start_from_the_server_defaults(tiny_dir: Path, tmp_path: Path) -> None:
    client = TestClient(create_app(Transcriber(str(tiny_dir)), TranscribeOptions(sample_rate=8000)))
    raw = tmp_path / "a.raw"
    raw.write_bytes(_pcm(tone(1.0, 8000)).astype("<i2").tobytes())
    body = post(client, raw, raw="s16le", response_format="verbose_json").json()
    assert body["audio"]["source_rate"] == 8000 and body["duration"] == pytest.approx(1.0)


def test_an_upload_over_the_limit_is_refused_whole_or_streamed(
    tiny_dir: Path, tmp_path: Path
) -> None:
    client = TestClient(create_app(Transcriber(str(tiny_dir)), limits=ServerLimits(0.01)))
    big = _tone_wav(tmp_path / "big.wav", 16000)  # 1 s: 32 KB, over 10 KB
    refused = post(client, big)  # declares its Content-Length
    assert refused.status_code == 413
    assert "larger than this server takes (0.01 MB)" in refused.json()["error"]["message"]
    boundary = "wav2textboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    )
    body = head.encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))  # sent chunked
    streamed = client.post(
        URL, content=chunks, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert streamed.status_code == 413 and "--max-upload-mb" in streamed.json()["error"]["message"]
    small = tmp_path / "small.wav"
    write_s16_wav(small, _pcm(tone(0.2, 8000)), 8000)  # 3 KB
    assert post(client, small).status_code == 200


class _Held:
    """A transcriber that holds each request until released, to fill the queue on purpose."""

    def __init__(self, inner: Transcriber) -> None:
        self.model = inner.model
        self.inner = inner
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def transcribe(self, source: object, options: TranscribeOptions) -> object:
        self.started.release()
        assert self.release.wait(60)
        return self.inner.transcribe(source, options)  # type: ignore[arg-type]


def test_requests_past_the_queue_limit_get_503_and_the_rest_are_served(
    tiny_dir: Path, tmp_path: Path
) -> None:
    held = _Held(Transcriber(str(tiny_dir)))
    client = TestClient(create_app(held, limits=ServerLimits(max_waiting=1)))  # type: ignore[arg-type]
    wav = _tone_wav(tmp_path / "tone.wav", 16000)
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(post, client, wav)
        assert held.started.acquire(timeout=60)  # the model is busy with the first
        later = [pool.submit(post, client, wav) for _ in range(2)]  # one waits, one is refused
        done, _ = wait(later, timeout=30, return_when=FIRST_COMPLETED)
        refused = done.pop().result()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert "busy (its queue of 1 is full)" in refused.json()["error"]["message"]
        held.release.set()
        statuses = sorted(f.result().status_code for f in [running, *later])
        assert statuses == [200, 200, 503]
    assert post(client, wav).status_code == 200


def test_unknown_paths_answer_in_openai_shape(client: TestClient) -> None:
    response = client.get("/v1/audio/translations")
    assert response.status_code == 404 and response.json()["error"]["message"] == "Not Found"


def test_cli_serve_answers_over_http(tiny_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "wav2text.cli", "serve", "-m", str(tiny_dir)]
    log = (tmp_path / "server.log").open("w")
    limits = ["--max-upload-mb", "0.05", "--max-waiting", "2"]  # 1 s at 44.1 kHz is 88 KB
    server = subprocess.Popen([*command, "--port", str(port), *limits], stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"{base}/health")
                break
            except httpx.ConnectError:
                alive = server.poll() is None and time.monotonic() < deadline
                assert alive, (tmp_path / "server.log").read_text()
                time.sleep(0.3)
        assert health.json() == {"status": "ok", "model": str(tiny_dir)}
        wav = _tone_wav(tmp_path / "tone.wav", 16000)
        with wav.open("rb") as file:
            answer = httpx.post(f"{base}{URL}", files={"file": ("tone.wav", file)}, timeout=60)
        assert answer.status_code == 200 and "text" in answer.json()
        big = _tone_wav(tmp_path / "big.wav", 44100)
        with big.open("rb") as file:
            refused = httpx.post(f"{base}{URL}", files={"file": ("big.wav", file)}, timeout=60)
        assert refused.status_code == 413 and "0.05 MB" in refused.text
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_run_requests_side_by_side(tiny_dir: Path, tmp_path: Path, workers: int) -> None:
    """With two replicas two requests are inside the model at once; with one, the second
    waits for the first (the negative control)."""
    first = _Held(Transcriber(str(tiny_dir)))
    replicas = [_Held(Transcriber(str(tiny_dir))) for _ in range(workers - 1)]
    app = create_app(first, replicas=replicas)  # type: ignore[arg-type]
    client = TestClient(app)
    wav = _tone_wav(tmp_path / "tone.wav", 16000)
    held = [first, *replicas]
    with ThreadPoolExecutor(2) as pool:
        asked = [pool.submit(post, client, wav) for _ in range(2)]
        inside = sum(h.started.acquire(timeout=5 if i else 60) for i, h in enumerate(held))
        assert inside == workers  # a second replica took the second request at once
        if workers == 1:  # the second request waits for the one replica
            assert not first.started.acquire(timeout=2)
        for h in held:
            h.release.set()
        assert [f.result().status_code for f in asked] == [200, 200]


def test_the_default_workers_follow_cores_and_memory(tiny_dir: Path) -> None:
    from wav2text import cores as workers

    model = Transcriber(str(tiny_dir)).model
    assert workers.suggested_workers(model, cores=4) == 4  # a tiny model fits 4 times over
    assert workers.threads_per_worker(4, cores=4) == 1 and workers.threads_per_worker(1, 4) == 4
    original = workers._available_memory
    try:
        workers._available_memory = lambda: 1  # type: ignore[assignment]
        assert workers.suggested_workers(model, cores=4) == 1  # no room: one replica
    finally:
        workers._available_memory = original  # type: ignore[assignment]


def test_an_upload_is_named_by_its_file_name_and_an_empty_one_is_empty(
    client: TestClient,
) -> None:
    bad = client.post(URL, files={"file": ("holiday.m4a", b"\x00not audio" * 10)})
    empty = client.post(URL, files={"file": ("nothing.wav", b"")})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("holiday.m4a: ")
    assert empty.status_code == 400 and "nothing.wav: " in empty.json()["error"]["message"]
    assert "0 bytes" in empty.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "yaml"}, "response_format"),
        ({"sample_rate": "fast"}, "sample_rate"),
        ({"raw": "mp3"}, "raw"),
        ({"channels": "2"}, "channels"),
        ({"timestamp_granularities[]": "word"}, "timestamp_granularities[]"),
    ],
)
def test_a_bad_field_is_named_in_param(client: TestClient, fields: dict, param: str) -> None:
    answer = client.post(URL, files={"file": ("a.wav", b"RIFF")}, data=fields)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param
