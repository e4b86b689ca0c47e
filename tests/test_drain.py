"""A restart that loses nothing: a real `wav2text serve` sent SIGTERM under load finishes
every request it had taken, ends its live stream with a final event and close code 1012,
refuses new connections, and exits, within --drain-s."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import free_port, wait_until_serving
from wav2text.audio import open_audio, to_mono
from wav_files import write_s16_wav

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "conscience_rms_48k_stereo.opus"
URL = "/v1/audio/transcriptions"


def long_file(path: Path) -> Path:
    """The sample 4 times (17 s): 8 of them keep the model busy a few seconds."""
    opened = open_audio(SAMPLE)
    one = (np.concatenate(list(to_mono(opened))) * 32767).astype(np.int16)
    assert opened.rate
    return write_s16_wav(path, [one] * 4, opened.rate)


def live_stream(port: int, events: list[dict], ready: threading.Event) -> int | None:
    """Stream silence until the server ends the stream; its close code."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{port}/v1/audio/stream?format=s16le&sample_rate=16000"
    with connect(url) as ws:
        stop = threading.Event()

        def feed() -> None:
            try:
                while not stop.is_set():
                    ws.send(bytes(3200))  # 0.1 s
                    time.sleep(0.1)
            except ConnectionClosed:
                pass

        feeder = threading.Thread(target=feed)
        feeder.start()
        ready.set()
        try:
            for message in ws:
                events.append(json.loads(message))
        except ConnectionClosed:
            pass
        finally:
            stop.set()
            feeder.join()
        return ws.close_code


@pytest.mark.parametrize("drain_s", [60.0, 0.01])
def test_sigterm_under_load_loses_no_request(tmp_path: Path, drain_s: float) -> None:
    """With --drain-s 0.01 (the negative control) the queued requests are cut."""
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "wav2text", "serve", "-m", "wav2text:demo-en",
               "--port", str(port), "--drain-s", str(drain_s), "--max-waiting", "16"]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        wait_until_serving(port, server, log)
        body = long_file(tmp_path / "long.wav").read_bytes()

        def ask(_: int) -> int:
            files = {"file": ("a.wav", body)}
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}{URL}", files=files, timeout=120)
            except httpx.HTTPError:
                return -1  # cut
            return answer.status_code

        events: list[dict] = []
        ready = threading.Event()
        with ThreadPoolExecutor(9) as pool:
            stream = pool.submit(live_stream, port, events, ready)
            assert ready.wait(30)
            asked = [pool.submit(ask, i) for i in range(8)]
            time.sleep(1.0)  # all 8 taken: one runs, the rest wait for the model
            server.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{port}/health")  # no new connections
            statuses = [f.result() for f in asked]
            code = stream.result(timeout=60)
        if drain_s < 1:
            assert statuses.count(200) < 8  # cut: the server took them and lost them
            return
        assert statuses == [200] * 8  # none lost
        assert code == 1012 and events[-1]["type"] == "done"
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=30)
    text = log.read_text()
    assert "Ending 1 live stream" in text, text
