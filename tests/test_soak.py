"""A bounded soak of live-stream abuse on the loopback: a real `wav2text serve` takes rounds
of huge frames, junk text frames, abandoned streams and honest ones, and its memory settles
on a plateau instead of growing round after round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from conftest import free_port, wait_until_serving

ROUNDS = 14
PLATEAU_ROUNDS = 6  # the last rounds, where the plateau is measured (allocators warm up first)
GROWTH_MB = 30.0  # the most memory may rise over them
MAX_SLOPE_MB = 4.0  # the most a round may add, on a line fitted to them


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def plateaued(rounds: list[float], last: int = PLATEAU_ROUNDS) -> bool:
    """Memory after each round: over the `last` rounds, the last is at most GROWTH_MB above
    the first of them, and a line fitted to them rises at most MAX_SLOPE_MB a round (a leak
    of 5 MB a round fails; a dip the allocator then fills again does not)."""
    later = rounds[-last:]
    slope = float(np.polyfit(np.arange(len(later)), later, 1)[0])
    return later[-1] - later[0] <= GROWTH_MB and slope <= MAX_SLOPE_MB


def abuse(port: int, seed: int) -> list[str]:
    """One round: every kind of stream at once; what each ended with."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{port}/v1/audio/stream?format=s16le&sample_rate=16000"
    rng = np.random.default_rng(seed)
    speechlike = (rng.normal(0, 3000, 16000 * 4)).astype(np.int16).tobytes()
    endings: list[str] = []

    def stream(kind: str) -> None:
        try:
            with connect(url, max_size=None, open_timeout=30, close_timeout=5) as ws:
                if kind == "huge":
                    ws.send(bytes(8 * 1024 * 1024))  # 262 s in one frame: cut at the limit
                elif kind == "junk":
                    ws.send("hello?")
                    ws.send(json.dumps({"type": "nonsense"}))
                elif kind == "abandoned":
                    ws.send(speechlike[:32000])
                    endings.append(kind)
                    return  # closed without "stop"
                else:
                    ws.send(speechlike)
                    ws.send("stop")
                for message in ws:
                    if json.loads(message)["type"] in ("done", "error"):
                        break
                endings.append(kind)
        except ConnectionClosed as closed:
            endings.append(f"{kind} closed {closed.rcvd.code if closed.rcvd else None}")
        except Exception as error:
            endings.append(f"{kind} {type(error).__name__}: {error}")

    kinds = ["huge", "huge", "junk", "junk", "abandoned", "abandoned", "honest", "honest"]
    threads = [threading.Thread(target=stream, args=(kind,)) for kind in kinds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return endings


def test_the_plateau_rule_refuses_steady_growth() -> None:
    """Negative control: the RSS the issue measured (566 then 734, 784, 771, 762, 834 MB,
    going on) and a steady leak fail the rule; a slow warm-up that levels off passes (the
    first CI run measured 720, 730, 763, 780, 818, 829, 843, 846, 846, 848)."""
    assert not plateaued([566, 734, 784, 771, 762, 834, 850, 870, 880, 900, 915, 930])
    assert not plateaued([500 + 7 * i for i in range(ROUNDS)])
    assert plateaued([720, 730, 763, 780, 818, 829, 843, 846, 846, 848, 850, 849, 851, 850])
    assert not plateaued([600, 700, 650, 660, 670, 680, 690, 700])  # climbing from a dip
    # a dip filled again (a CI run on Python 3.12, whose CUDA torch build sits at 1.1 GB)
    assert plateaued([1114, 1119, 1135, 1167, 1180, 1181, 1189, 1191, 1195, 1206, 1176, 1206])


def test_live_stream_abuse_leaves_memory_on_a_plateau(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "wav2text", "serve", "-m", "wav2text:demo-en",
               "--port", str(port), "--stream-max", "120", "--max-streams", "8"]  # fmt: skip
    # glibc gives each thread its own arena, and 8 streams' threads leave them fragmented:
    # RSS then rises in steps (596 to 866 MB over 40 rounds) that hide what the server holds;
    # two arenas measure the server (602 to 736 MB, flat for long stretches)
    env = dict(os.environ, MALLOC_ARENA_MAX="2")
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    try:
        wait_until_serving(port, server, log)
        memory = []
        for round_ in range(ROUNDS):
            endings = abuse(port, round_)
            assert len(endings) == 8 and server.poll() is None, (endings, log.read_text())
            memory.append(rss_mb(server.pid))
        print("RSS after each round (MB):", [round(m) for m in memory])
        assert plateaued(memory), memory
    finally:
        server.terminate()
        server.wait(timeout=60)
