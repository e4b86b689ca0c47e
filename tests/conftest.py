from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tiny_models import make_model
from wav2text import Transcriber

# CI sets this so that a missing tool fails the run instead of skipping tests.
REQUIRE_TOOLS = os.environ.get("WAV2TEXT_REQUIRE_TOOLS") == "1"


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if REQUIRE_TOOLS:
            pytest.fail(f"{name} is required (apt-get install {name})")
        pytest.skip(f"{name} not installed")
    return path


def ffmpeg(*args: str) -> None:
    need_tool("ffmpeg")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(autouse=True)
def _own_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's servers keep their jobs in a folder of the test's own, never the user's
    ~/.local/state (nor one a server left running by another test still holds)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_dir(models: Path) -> Path:
    return make_model(models / "wav2vec2")


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> Transcriber:
    return Transcriber(str(tiny_dir))


@pytest.fixture(scope="session")
def demo() -> Transcriber:
    """The bundled model with its LM, shared (a module's own `demo` fixture overrides it)."""
    from wav2text import BUNDLED_MODEL

    return Transcriber(BUNDLED_MODEL)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 4 s of synthetic English speech, 22.05 kHz mono, from espeak-ng."""
    need_tool("espeak-ng")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "the quick brown fox jumps over the lazy dog again"],
        check=True,
    )
    return path


def tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noisy_tone(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = tone(seconds, rate, 300) + tone(seconds, rate, 1700, 0.2)
    return (x + rng.normal(0, 0.05, len(x))).astype(np.float32)


def free_port() -> int:
    """A local port nobody listens on (once this returns)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """Until a `wav2text serve` subprocess answers /health (its log if it died first)."""
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health")
            return
        except httpx.ConnectError:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)


@contextlib.contextmanager
def serving(app: object, config: object = None) -> Iterator[int]:
    """A real uvicorn serving `app` on a free loopback port (or as `config` says), on a
    thread, for as long as the block runs; yields the port."""
    import uvicorn

    if config is None:
        config = uvicorn.Config(app, port=free_port(), log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield server.config.port
    finally:
        server.should_exit = True
        thread.join(10)


class Pipe(io.RawIOBase):
    """Bytes as a stream that cannot seek, as stdin."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        return self._data.readinto(buffer)
