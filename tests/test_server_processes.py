"""`serve --workers 2` on a CPU answers file requests in forked worker processes: the same
answers as the library's, the processes do the work, one killed costs no request, and none
outlives the server (SIGTERM or kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_until_serving
from wav2text import Transcriber
from wav2text.cores import usable_cores
from wav2text.parallel import START_METHOD_VARIABLE

URL = "/v1/audio/transcriptions"
MODEL = "wav2text:demo-en"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux")


@contextmanager
def server(tmp_path: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port, log = free_port(), tmp_path / "server.log"
    command = [sys.executable, "-m", "wav2text", "serve", "-m", MODEL, "--port", str(port),
               "--workers", "2", "--threads", "1", "--no-jobs"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env={**os.environ, **env})
    try:
        wait_until_serving(port, process, log)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def running(pid: int) -> bool:
    """Alive, not a zombie (an orphan's end waits for whoever reaps it here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def ask(port: int, name: str, body: bytes) -> httpx.Response:
    files = {"file": (name, body)}
    return httpx.post(f"http://127.0.0.1:{port}{URL}", files=files, timeout=120)


def asked_at_once(port: int, body: bytes, count: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: ask(port, "speech.wav", body), range(count)))


def test_requests_run_in_the_worker_processes_with_the_librarys_answers(
    tmp_path: Path, speech_wav: Path
) -> None:
    expected = Transcriber(MODEL).transcribe(speech_wav).text
    body = speech_wav.read_bytes()
    with server(tmp_path) as (process, port, log):
        assert "2 worker(s) (processes)" in log.read_text()
        workers = children(process.pid)
        assert len(workers) == 2
        before = [cpu_ticks(pid) for pid in workers]
        answers = asked_at_once(port, body, 6)
        assert [a.status_code for a in answers] == [200] * 6
        assert {a.json()["text"] for a in answers} == {expected}
        worked = [cpu_ticks(pid) - was for pid, was in zip(workers, before, strict=True)]
        assert min(worked) > 0  # both processes transcribed
        broken = ask(port, "holiday.wav", b"RIFF and then nothing" * 10)
        assert broken.status_code == 400  # an error crosses back with its type and its name
        assert broken.json()["error"]["message"].startswith("holiday.wav: not a readable")


BY_DESCRIPTOR = """
import sys, tempfile
from wav2text import Transcriber
from wav2text.serving import processes
from wav2text.serving.forms import NamedUpload

replicas = [Transcriber("wav2text:demo-en") for _ in range(2)]
workers = processes.fork_workers(replicas)
outcomes = []
for inline in (processes.INLINE_BYTES, 0):  # as bytes, then every upload by descriptor
    processes.INLINE_BYTES = inline
    with tempfile.TemporaryFile() as spooled, open(sys.argv[1], "rb") as wav:
        spooled.write(wav.read())  # left at its end, as an upload is
        outcomes.append(workers[1].transcribe(NamedUpload(spooled, "speech.wav")).text)
for worker in workers:
    worker.close()
print(outcomes == [replicas[0].transcribe(sys.argv[1]).text] * 2, outcomes[0])
"""


def test_a_large_upload_reaches_its_process_by_descriptor(speech_wav: Path) -> None:
    """Past INLINE_BYTES the process reads the server's spooled file itself (set to 0 here:
    every upload); the answer is the library's either way."""
    done = subprocess.run([sys.executable, "-c", BY_DESCRIPTOR, str(speech_wav)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("True THE QUICK"), done.stdout


def test_threads_where_forking_is_turned_off(tmp_path: Path, speech_wav: Path) -> None:
    """The control: no worker process, no "(processes)", the same answers."""
    with server(tmp_path, **{START_METHOD_VARIABLE: "spawn"}) as (process, port, log):
        assert "2 worker(s), 1 thread(s)" in log.read_text()
        assert children(process.pid) == []
        assert ask(port, "speech.wav", speech_wav.read_bytes()).status_code == 200


@pytest.mark.skipif(usable_cores() < 2, reason="two workers on two cores")
def test_a_killed_worker_process_costs_no_request(tmp_path: Path, speech_wav: Path) -> None:
    body = speech_wav.read_bytes()
    with server(tmp_path) as (process, port, log):
        expected = ask(port, "speech.wav", body).json()["text"]
        os.kill(children(process.pid)[0], signal.SIGKILL)
        answers = asked_at_once(port, body, 6)
        assert [a.status_code for a in answers] == [200] * 6
        assert {a.json()["text"] for a in answers} == {expected}
        assert "requests now run in the server's process" in log.read_text()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_process_outlives_the_server(
    tmp_path: Path, speech_wav: Path, stop: signal.Signals
) -> None:
    with server(tmp_path) as (process, port, _):
        workers = children(process.pid)
        assert ask(port, "speech.wav", speech_wav.read_bytes()).status_code == 200
        process.send_signal(stop)
        assert process.wait(60) == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker process outlived the server"
        time.sleep(0.2)
