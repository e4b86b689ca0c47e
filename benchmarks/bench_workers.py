"""Serving throughput with 1 and with N model replicas, side by side in one run:

    python benchmarks/bench_workers.py [--workers 2] [--requests 24] [--clients 4] [--rounds 2]
                                       [--only bundled|base]

A real `wav2text serve` (its own process, one thread per worker) answers `--clients`
concurrent clients posting a clip of real speech (the real recordings in tests/data/real,
joined to ~8 s) until `--requests` are answered; requests/s and the latency p50/p95 are
printed per model and worker count, rounds interleaved. N workers run twice: as the server
chooses on Linux (forked worker processes) and as threads of one process
(WAV2TEXT_START_METHOD=spawn, what other platforms get). Models: the bundled demo model and
random weights of wav2vec2-base size (base-960h's compute). Run it alone on the machine;
it prints the CPU it ran on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
from training.real import real_clips  # noqa: E402

from bench_speed import cpu  # noqa: E402
from conftest import free_port  # noqa: E402
from tiny_models import BASE, make_model  # noqa: E402
from wav2text.audio import open_audio, to_mono  # noqa: E402
from wav2text.parallel import START_METHOD_VARIABLE  # noqa: E402
from wav2text.rate import resample_stream  # noqa: E402
from wav2text.resolve import BUNDLED_MODEL  # noqa: E402
from wav_files import write_s16_wav  # noqa: E402

RATE = 16000
URL = "/v1/audio/transcriptions"


def clip(path: Path, seconds: float = 8.0) -> Path:
    parts: list[np.ndarray] = []
    for real in real_clips():
        if real.path.suffix == ".raw":
            continue
        audio = open_audio(real.path)
        assert audio.rate
        parts += list(resample_stream(to_mono(audio), audio.rate, RATE))
        if sum(map(len, parts)) > seconds * RATE:
            break
    samples = np.concatenate(parts)[: int(seconds * RATE)]
    return write_s16_wav(path, [(np.clip(samples, -1, 1) * 32767).astype(np.int16)], RATE)


def server(
    model: str, workers: int, log: Path, threads: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, START_METHOD_VARIABLE: "spawn"} if threads else None
    command = [sys.executable, "-m", "wav2text", "serve", "-m", model, "--port", str(port),
               "--workers", str(workers), "--threads", "1", "--max-waiting", "64"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    deadline = time.monotonic() + 300
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health")
            return process, port
        except httpx.ConnectError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)


def load(port: int, body: bytes, requests: int, clients: int) -> tuple[float, list[float]]:
    """Wall time for `requests` answers from `clients` closed-loop clients; latencies."""
    latencies: list[float] = []

    def client(count: int) -> None:
        with httpx.Client(timeout=600) as http:
            for _ in range(count):
                started = time.monotonic()
                answer = http.post(f"http://127.0.0.1:{port}{URL}", files={"file": ("a.wav", body)})
                assert answer.status_code == 200, answer.text
                latencies.append(time.monotonic() - started)

    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, shares))
    return time.monotonic() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=("bundled", "base"), help="one model, not both")
    args = parser.parse_args()
    print(f"CPU: {cpu()}")
    with tempfile.TemporaryDirectory() as work:
        models = {}
        if args.only != "base":
            models["bundled demo model"] = BUNDLED_MODEL
        if args.only != "bundled":
            models["wav2vec2-base size"] = str(make_model(Path(work) / "base", size=BASE))
        body = clip(Path(work) / "clip.wav").read_bytes()
        for name, model in models.items():
            kinds = {"1": (1, False), f"{args.workers}, processes": (args.workers, False),
                     f"{args.workers}, threads": (args.workers, True)}  # fmt: skip
            results: dict[str, list[tuple[float, list[float]]]] = {kind: [] for kind in kinds}
            for _ in range(args.rounds):
                for kind, (workers, threads) in kinds.items():
                    log = Path(work) / "server.log"
                    process, port = server(model, workers, log, threads)
                    try:
                        load(port, body, args.clients, args.clients)  # warm up every worker
                        results[kind].append(load(port, body, args.requests, args.clients))
                    finally:
                        process.terminate()
                        process.wait(60)
            print(f"\n{name}: {args.requests} requests of 8 s, {args.clients} clients")
            print("  workers        requests/s  p50 s  p95 s  vs 1 worker")
            base = min(t for t, _ in results["1"])
            for kind, runs in results.items():
                wall, latencies = min(runs, key=lambda run: run[0])
                p50 = statistics.median(latencies)
                p95 = statistics.quantiles(latencies, n=20)[-1]
                rate = args.requests / wall
                print(f"  {kind:13s}  {rate:10.2f}  {p50:5.2f}  {p95:5.2f}  {base / wall:11.2f}")


if __name__ == "__main__":
    main()
