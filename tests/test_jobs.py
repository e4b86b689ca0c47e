"""Jobs: a long recording submitted, polled and fetched in any format; kept in SQLite across
restarts (kill -9 mid-job: run again, nothing lost, nothing twice); scoped by API key;
cancelled by DELETE; forgotten after their TTL; a bad field refused before anything is kept."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import free_port, wait_until_serving
from wav2text import OptionsError, TranscribeOptions, Transcriber
from wav2text.audio import open_audio, to_mono
from wav2text.options import ServerLimits
from wav2text.serving.jobstore import JobStore
from wav2text.serving.server import create_app
from wav_files import write_s16_wav

JOBS = "/v1/jobs"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    kept = JobStore(tmp_path / "jobs", ServerLimits().job_ttl_s)
    yield kept
    kept.close()


def finished(client: TestClient | httpx.Client, job_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"{JOBS}/{job_id}").json()
        if job["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_a_job_is_submitted_polled_and_fetched_in_every_format(
    demo: Transcriber, speech_wav: Path, store: JobStore
) -> None:
    with TestClient(create_app(demo, jobs=store)) as client:
        answer = client.post(JOBS, files={"file": ("fox.wav", speech_wav.read_bytes())})
        assert answer.status_code == 202
        job_id = answer.json()["id"]
        assert answer.headers["location"] == f"{JOBS}/{job_id}"
        assert answer.json()["status"] in ("queued", "running")
        job = finished(client, job_id)
        assert job["status"] == "completed" and job["progress"]["fraction"] == 1.0
        assert job["filename"] == "fox.wav" and job["attempts"] == 1
        expected = demo.transcribe(speech_wav)
        result = client.get(f"{JOBS}/{job_id}/result").json()
        assert result["text"] == expected.text
        assert client.get(f"{JOBS}/{job_id}/result?format=text").text.strip() == expected.text
        srt = client.get(f"{JOBS}/{job_id}/result?format=srt")
        assert srt.headers["content-type"].startswith("application/x-subrip")
        assert "-->" in srt.text
        verbose = client.get(f"{JOBS}/{job_id}/result?format=verbose_json").json()
        assert [w["word"] for w in verbose["words"]] == expected.text.split()
        wrong = client.get(f"{JOBS}/{job_id}/result?format=docx")
        assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "format"
        assert [j["id"] for j in client.get(JOBS).json()["data"]] == [job_id]


def test_a_bad_field_is_refused_before_anything_is_kept(
    demo: Transcriber, speech_wav: Path, store: JobStore
) -> None:
    with TestClient(create_app(demo, jobs=store)) as client:
        files = {"file": ("fox.wav", speech_wav.read_bytes())}
        answer = client.post(JOBS, files=files, data={"sample_rate": "fast"})
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "sample_rate"
        assert client.get(JOBS).json()["data"] == []
        assert [p.name for p in store.folder.iterdir() if p.is_dir()] == []


def test_an_unreadable_upload_fails_its_job_with_the_reason(
    demo: Transcriber, store: JobStore
) -> None:
    with TestClient(create_app(demo, jobs=store)) as client:
        files = {"file": ("notes.txt", b"these are not sounds " * 50)}
        job_id = client.post(JOBS, files=files).json()["id"]
        job = finished(client, job_id)
        assert job["status"] == "failed" and "notes.txt" in job["error"]["message"]
        result = client.get(f"{JOBS}/{job_id}/result")
        assert result.status_code == 409 and "failed" in result.json()["error"]["message"]


def test_a_queued_job_has_no_result_yet_and_delete_forgets_it(
    demo: Transcriber, speech_wav: Path, store: JobStore
) -> None:
    client = TestClient(create_app(demo, jobs=store))  # not started: its runner never runs
    job_id = client.post(JOBS, files={"file": ("a.wav", speech_wav.read_bytes())}).json()["id"]
    early = client.get(f"{JOBS}/{job_id}/result")
    assert early.status_code == 409 and "queued" in early.json()["error"]["message"]
    assert client.delete(f"{JOBS}/{job_id}").json()["deleted"] is True
    assert client.get(f"{JOBS}/{job_id}").status_code == 404
    assert not (store.folder / job_id).exists()


def test_a_job_belongs_to_the_key_that_submitted_it(
    demo: Transcriber, speech_wav: Path, store: JobStore
) -> None:
    app = create_app(demo, api_keys=("alice-key", "bob-key"), jobs=store)
    client = TestClient(app)
    alice = {"Authorization": "Bearer alice-key"}
    bob = {"Authorization": "Bearer bob-key"}
    files = {"file": ("a.wav", speech_wav.read_bytes())}
    job_id = client.post(JOBS, files=files, headers=alice).json()["id"]
    assert client.get(f"{JOBS}/{job_id}", headers=alice).status_code == 200
    for path in (f"{JOBS}/{job_id}", f"{JOBS}/{job_id}/result"):
        assert client.get(path, headers=bob).status_code == 404
    assert client.delete(f"{JOBS}/{job_id}", headers=bob).status_code == 404
    assert client.get(JOBS, headers=bob).json()["data"] == []
    assert client.get(f"{JOBS}/{job_id}").status_code == 401  # no key at all


def test_a_job_waits_while_the_request_queue_is_full(
    demo: Transcriber, speech_wav: Path, store: JobStore
) -> None:
    """The model's turn refuses (503, its queue full) as it is entered: the runner waits
    and tries again instead of dying with the refusal."""
    from contextlib import contextmanager

    from fastapi import HTTPException

    from wav2text.serving.jobs import JobRunner
    from wav2text.serving.metrics import Metrics

    refusals = [HTTPException(503, "busy"), HTTPException(503, "busy")]

    @contextmanager
    def turn() -> Iterator[Transcriber]:
        if refusals:
            raise refusals.pop()
        yield demo

    runner = JobRunner(store, turn, TranscribeOptions(), Metrics(("/",)))
    with speech_wav.open("rb") as upload:
        job_id = store.submit("", "fox.wav", {}, upload)
    claimed = store.claim()
    assert claimed is not None
    runner.run(claimed)
    assert refusals == []
    assert (store.get(job_id) or pytest.fail()).state == "completed"


def test_finished_jobs_are_forgotten_after_their_ttl(store: JobStore, tmp_path: Path) -> None:
    store.ttl_s = 0.2
    job_id = store.submit("", "a.wav", {}, io.BytesIO(b"RIFF"))
    claimed = store.claim()
    assert claimed is not None and claimed.id == job_id
    store.complete(job_id, {"json": b"{}"})
    assert store.get(job_id) is not None
    time.sleep(0.3)
    assert store.get(job_id) is None and not (tmp_path / "jobs" / job_id).exists()


def test_a_restart_requeues_a_running_job_or_keeps_its_whole_results(
    store: JobStore, tmp_path: Path
) -> None:
    folder = tmp_path / "jobs"
    cut, done = (store.submit("", f"{n}.wav", {}, io.BytesIO(b"RIFF")) for n in "ab")
    store.claim(), store.claim()
    (folder / done / "results").mkdir()  # it had renamed its results into place
    (folder / "job_orphan").mkdir()  # an upload whose row was never written
    store.close()  # as a killed server leaves it (its lock goes with the process)
    again = JobStore(folder, ServerLimits().job_ttl_s)
    assert (again.get(cut) or pytest.fail()).state == "queued"
    assert (again.get(done) or pytest.fail()).state == "completed"
    assert not (folder / "job_orphan").exists()
    again.close()


def test_a_second_server_on_the_same_jobs_folder_is_refused(
    store: JobStore, tmp_path: Path
) -> None:
    with pytest.raises(OptionsError, match="in use by another wav2text server"):
        JobStore(tmp_path / "jobs", 60.0)


SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "conscience_rms_48k_stereo.opus"


def test_kill_9_mid_job_loses_nothing_and_does_nothing_twice(tmp_path: Path) -> None:
    """A real `wav2text serve` killed while it transcribes a job: restarted, it runs the job
    again from the start and completes it once, with the text a direct transcription has."""
    opened = open_audio(SAMPLE)
    one = (np.concatenate(list(to_mono(opened))) * 32767).astype(np.int16)
    assert opened.rate
    long_wav = write_s16_wav(tmp_path / "long.wav", [one] * 60, opened.rate)  # ~4 min
    port, folder = free_port(), tmp_path / "jobs"
    command = [sys.executable, "-m", "wav2text", "serve", "-m", "wav2text:demo-en",
               "--port", str(port), "--jobs-dir", str(folder), "--workers", "1"]  # fmt: skip
    log = tmp_path / "server.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("a") as out:
            server = subprocess.Popen(command, stdout=out, stderr=out)
        wait_until_serving(port, server, log)
        return server

    server = start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        job_id = client.post(JOBS, files={"file": ("long.wav", long_wav.read_bytes())}).json()["id"]
        deadline = time.monotonic() + 60
        while (job := client.get(f"{JOBS}/{job_id}").json())["progress"]["audio_seconds"] == 0:
            assert time.monotonic() < deadline and job["status"] != "completed", job
            time.sleep(0.1)
        server.kill()  # kill -9 while it runs
        server.wait(timeout=30)
        assert job["status"] == "running"
        server = start()
        job = finished(client, job_id, timeout_s=300)
        assert job["status"] == "completed" and job["attempts"] == 2, job
        text = client.get(f"{JOBS}/{job_id}/result?format=text").text.strip()
    finally:
        client.close()
        server.kill()
        server.wait(timeout=30)
    assert text == Transcriber("wav2text:demo-en").transcribe(long_wav).text
    leftovers = [p.name for p in (folder / job_id).iterdir()]
    assert sorted(leftovers) == ["results", "upload"]  # no partial files
