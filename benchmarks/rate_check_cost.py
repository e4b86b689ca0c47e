"""What the declared-rate check costs where it runs by default (raw PCM with a given rate),
side by side in one process: a 10-s file, and a batch of 3-s files, with the check (the
default) and with check_rate=False; best of --repeats interleaved rounds.

    python benchmarks/rate_check_cost.py [--repeats 3] [--files 20]

Bundled model with its LM, one CPU thread. Prints the CPU it ran on.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench_speed import best_time, cpu, joined, speech
from wav2text import ModelOptions, RawFormat, TranscribeOptions, Transcriber
from wav2text.resolve import BUNDLED_MODEL

RATE = 16000


def pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()
    print(f"CPU: {cpu()}")
    transcriber = Transcriber(ModelOptions(BUNDLED_MODEL, threads=1))
    clips, _ = speech(10 + 3 * args.files)
    audio = joined(clips)
    long_file = pcm(audio[: 10 * RATE])
    short_files = [pcm(audio[i * 3 * RATE : (i + 1) * 3 * RATE]) for i in range(args.files)]
    checked = TranscribeOptions(raw=RawFormat("s16le"), sample_rate=RATE)
    unchecked = TranscribeOptions(raw=RawFormat("s16le"), sample_rate=RATE, check_rate=False)
    cases = {"one 10-s file": [long_file], f"{args.files} files of 3 s": short_files}
    for name, inputs in cases.items():
        times = {}
        for _ in range(args.repeats):  # interleaved
            for label, options in (("checked", checked), ("unchecked", unchecked)):
                took, _ = best_time(
                    lambda o=options, i=inputs: list(transcriber.transcribe_many(i, o)), 1
                )
                times[label] = min(times.get(label, took), took)
        extra = times["checked"] / times["unchecked"] - 1
        print(
            f"{name}: {times['unchecked']:.2f} s without the check, {times['checked']:.2f} s "
            f"with it (+{extra:.0%} of the transcription's time)"
        )


if __name__ == "__main__":
    main()
