"""Live streaming over the WebSocket, measured on a real `wav2text serve` (uvicorn, loopback).

    python benchmarks/bench_live.py [--seconds 40] [--streams 4] [--workers 1]

The bundled demo model on one torch thread; speech: the repository's real clips joined by
one-second pauses, sent as 16 kHz s16le in 100 ms chunks at real time.

- latency: for each final word, the wall time from its end in the audio to its first
  appearance in a partial (the same word within 0.3 s of where the final puts it), and to
  its final; median and 90th percentile;
- agreement: the finals joined vs the offline transcript of the same audio;
- concurrency: N streams at once (on W model replicas) plus file requests every 2 s: each
  stream's lag at the end (stop sent -> done received), its partials, errors;
- compute: CPU seconds per audio second, live vs offline `transcribe`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
import uvicorn  # noqa: E402
import websockets  # noqa: E402
from training.real import real_clips  # noqa: E402

from conftest import free_port  # noqa: E402
from wav2text import BUNDLED_MODEL, ModelOptions, RawFormat, TranscribeOptions, Transcriber  # noqa: E402
from wav2text.audio import open_audio, to_mono  # noqa: E402
from wav2text.options import ServerLimits  # noqa: E402
from wav2text.rate import resample_stream  # noqa: E402
from wav2text.serving.server import create_app  # noqa: E402

RATE = 16000
CHUNK_S = 0.1


def speech(seconds: float) -> bytes:
    parts = []
    for clip in real_clips():
        if clip.path.suffix == ".raw":
            continue
        audio = open_audio(clip.path)
        parts += [*resample_stream(to_mono(audio), audio.rate, RATE), np.zeros(RATE, np.float32)]
        if sum(map(len, parts)) > seconds * RATE:
            break
    samples = np.concatenate(parts)[: int(seconds * RATE)]
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def one_stream(url: str, pcm: bytes) -> tuple[list[tuple[float, dict]], float]:
    """Send at real time; every event with its arrival (seconds after the first byte)."""
    events: list[tuple[float, dict]] = []
    chunk = int(CHUNK_S * RATE) * 2
    async with websockets.connect(url, max_size=None) as socket:
        started = time.monotonic()

        async def receive() -> None:
            async for message in socket:
                events.append((time.monotonic() - started, json.loads(message)))
                if events[-1][1]["type"] == "done":
                    return

        listener = asyncio.create_task(receive())
        for n, i in enumerate(range(0, len(pcm), chunk)):
            await asyncio.sleep(max(0.0, started + n * CHUNK_S - time.monotonic()))
            await socket.send(pcm[i : i + chunk])
        await socket.send(json.dumps({"type": "stop"}))
        await listener
    return events, started


def latencies(events: list[tuple[float, dict]]) -> tuple[list[float], list[float], int]:
    """Per final word: its end to its first sight (a partial, else its final); per final:
    its last word's end (where the pause begins) to the final."""
    first_seen, to_final, never_partial = [], [], 0
    partials = [(t, w) for t, e in events if e["type"] == "partial" for w in e["words"]]
    for t, event in events:
        if event["type"] != "final":
            continue
        to_final.append(t - event["words"][-1]["end"])
        for word in event["words"]:
            seen = [pt for pt, w in partials if _same(w, word)]
            never_partial += not seen
            first_seen.append(min([*seen, t]) - word["end"])
    return first_seen, to_final, never_partial


def _same(partial: dict, final: dict) -> bool:
    return partial["word"] == final["word"] and abs(partial["start"] - final["start"]) < 0.3


def pct(values: list[float]) -> str:
    return f"median {np.median(values):.2f} s, p90 {np.percentile(values, 90):.2f} s"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def concurrent(url: str, http: str, pcm: bytes, streams: int) -> None:
    errors: list[str] = []
    stop = asyncio.Event()

    async def files() -> int:
        count = 0
        async with httpx.AsyncClient(timeout=120) as client:
            while not stop.is_set():
                files = {"file": ("a.raw", pcm[: 5 * RATE * 2])}
                form = {"raw": "s16le", "sample_rate": str(RATE)}
                answer = await client.post(
                    f"{http}/v1/audio/transcriptions", files=files, data=form
                )
                count += 1
                if answer.status_code != 200:
                    errors.append(f"file: {answer.status_code}")
                await asyncio.sleep(2)
        return count

    requests = asyncio.create_task(files())
    results = await asyncio.gather(*(one_stream(url, pcm) for _ in range(streams)))
    stop.set()
    answered = await requests
    for n, (events, _) in enumerate(results):
        errors += [e["message"] for _, e in events if e["type"] == "error"]
        done = events[-1][1]
        print(
            f"  stream {n}: lag at the end {done['lag_s']:.2f} s, {len(done['text'].split())} "
            f"words, {sum(e['type'] == 'partial' for _, e in events)} partials"
        )
    print(f"  {answered} file requests answered beside them; errors: {len(errors)} {errors[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="model replicas (serve --workers)")
    args = parser.parse_args()
    transcriber = Transcriber(ModelOptions(BUNDLED_MODEL, threads=1))
    pcm = speech(args.seconds)
    limits = ServerLimits(max_streams=max(args.streams, ServerLimits().max_streams))
    replicas = [
        Transcriber(ModelOptions(BUNDLED_MODEL, threads=1)) for _ in range(args.workers - 1)
    ]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(transcriber, limits=limits, replicas=replicas), port=port, log_level="error"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"ws://127.0.0.1:{port}/v1/audio/stream?format=s16le&sample_rate={RATE}"
    duration = len(pcm) / 2 / RATE

    before = cpu_s()
    events, _ = asyncio.run(one_stream(url, pcm))
    live_cpu = cpu_s() - before
    before = cpu_s()
    offline = transcriber.transcribe(
        pcm, TranscribeOptions(raw=RawFormat("s16le"), sample_rate=RATE)
    )
    offline_cpu = cpu_s() - before

    partial, final, missed = latencies(events)
    finals = " ".join(e["text"] for _, e in events if e["type"] == "final").split()
    same = sum(a == b for a, b in zip(finals, offline.text.split(), strict=False))
    print(f"one stream, {duration:.0f} s of real speech at real time, 1 torch thread:")
    print(f"  a word's end -> its first partial: {pct(partial)} ({missed} of {len(partial)} "
          "words first seen in their final)")  # fmt: skip
    print(f"  speech's end -> its final: {pct(final)} (a final waits for the 0.5 s pause "
          "that closes its cut)")  # fmt: skip
    print(f"  finals vs offline transcript: {same}/{len(offline.text.split())} words equal, "
          f"texts identical: {' '.join(finals) == offline.text}")  # fmt: skip
    ratio = live_cpu / offline_cpu
    print(f"  CPU per audio second: live {live_cpu / duration:.3f} s, offline "
          f"{offline_cpu / duration:.3f} s ({ratio:.1f}x; partials included)")  # fmt: skip
    print(f"{args.streams} streams at once on {args.workers} worker(s), plus a 5 s file request "
          "every 2 s:")  # fmt: skip
    asyncio.run(concurrent(url, f"http://127.0.0.1:{port}", pcm, args.streams))
    server.should_exit = True


if __name__ == "__main__":
    main()
