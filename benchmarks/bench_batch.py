"""A batch of files on one core and on all of them: one process, worker processes
(transcribe_many(workers=N); the CLI's default: this process and a forked worker per core)
and threads, side by side in one run.

    python benchmarks/bench_batch.py [--files 16] [--seconds 15] [--repeats 2]

Files: held-out sentences in the demo's voices (bench_speed.speech), each about --seconds
long, as 16 kHz WAV. Bundled model with its LM, one CPU thread per worker. Prints wall time,
x real time, the ratio to one process, and whether every transcript equals one process's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_speed import cpu, joined, speech, write_wav
from wav2text import ModelOptions, Transcriber, parallel
from wav2text.cores import usable_cores
from wav2text.resolve import BUNDLED_MODEL


def files(folder: Path, count: int, seconds: float) -> list[Path]:
    clips, _ = speech(count * seconds)
    per_file = max(1, len(clips) // count)
    return [
        write_wav(folder / f"f{i}.wav", joined(clips[i * per_file : (i + 1) * per_file]))
        for i in range(count)
    ]


def texts(outcomes: object) -> list[str]:
    return [getattr(o, "text", repr(o)) for o in outcomes]  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cores = usable_cores()
    print(f"CPU: {cpu()}; {cores} usable cores")
    model = Transcriber(ModelOptions(BUNDLED_MODEL, threads=1))
    with tempfile.TemporaryDirectory() as work:
        paths = files(Path(work), args.files, args.seconds)
        audio_s = sum(p.stat().st_size - 44 for p in paths) / 32000

        copies = [model] + [Transcriber(ModelOptions(BUNDLED_MODEL, threads=1))
                            for _ in range(cores - 1)]  # fmt: skip

        def threads(models: list[Transcriber]) -> list[str]:
            halves = [paths[i::cores] for i in range(cores)]
            with ThreadPoolExecutor(cores) as pool:
                runs = [pool.submit(lambda m=m, h=h: texts(m.transcribe_many(h)))
                        for m, h in zip(models, halves, strict=True)]  # fmt: skip
                parts = [run.result() for run in runs]
            out = [""] * len(paths)
            for i, part in enumerate(parts):
                out[i::cores] = part
            return out

        def processes(method: str, count: int) -> list[str]:
            default = parallel.start_method
            parallel.start_method = lambda *_: method  # type: ignore[assignment]
            try:
                return texts(model.transcribe_many(paths, workers=count))
            finally:
                parallel.start_method = default  # type: ignore[assignment]

        ways = {
            "one process": lambda: texts(model.transcribe_many(paths)),
            f"{cores + 1} processes, forked": lambda: processes("fork", cores + 1),
            f"{cores} processes, forked": lambda: processes("fork", cores),
            f"{cores} processes, spawned": lambda: processes("spawn", cores),
            f"{cores} threads, one model": lambda: threads([model] * cores),
            f"{cores} threads, a model each": lambda: threads(copies),
        }
        best: dict[str, float] = {}
        said: dict[str, list[str]] = {}
        for _ in range(args.repeats):  # interleaved rounds
            for name, run in ways.items():
                start = time.perf_counter()
                said[name] = run()
                best[name] = min(best.get(name, 1e9), time.perf_counter() - start)
    base = best["one process"]
    print(f"{len(paths)} files, {audio_s:.0f} s of audio; best of {args.repeats} rounds")
    for name, seconds in best.items():
        same = said[name] == said["one process"]
        verdict = "identical" if same else "DIFFER"
        print(
            f"  {name:26s} {seconds:6.1f} s  {audio_s / seconds:6.1f}x real time  "
            f"{base / seconds:5.2f}x one process  transcripts {verdict}"
        )


if __name__ == "__main__":
    main()
