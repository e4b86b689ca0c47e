"""How well `sample_rate="auto"` finds the rate of headerless audio.

    python benchmarks/rate_estimation.py [--model wav2text:demo-en] [--voices 12]

Labelled set: synthetic speech (held-out sentences, seen and held-out voices) and the
real clips in ../shared/data/real with at least 2 s of audio, each resampled to every
candidate rate and written as headerless s16le PCM. Prints the confusion matrix (true
rate x estimate), exact share, confident answers more than 10 % off, abstentions, and
the cost per estimate.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from wav2text import RawFormat, TranscribeOptions, Transcriber  # noqa: E402
from wav2text.audio import open_audio, to_mono  # noqa: E402
from wav2text.estimate import CANDIDATE_RATES, MIN_CONFIDENCE, estimate_rate  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"


def synthetic(count: int) -> list[tuple[str, np.ndarray, int]]:
    import random

    from training.text import fortune_sentences, is_held_out
    from training.voices import random_voice, render

    sentences = [s for s in fortune_sentences() if is_held_out(s)]
    rng = random.Random("rate-estimation")
    out = []
    for i in range(count):
        voice = random_voice(rng, held_out=i % 4 == 0)
        audio = render(voice, rng.choice(sentences)).astype(np.float32) / 32768
        out.append((voice.label, audio, 16000))
    return out


def real(min_seconds: float = 2.0) -> list[tuple[str, np.ndarray, int]]:
    with (REAL / "manifest.tsv").open() as file:
        rows = [r for r in csv.DictReader(file, delimiter="\t") if float(r["duration_s"]) >= min_seconds]
    out = []
    for row in rows:
        options = {}
        if row["file"].endswith(".raw"):
            options = {"raw": RawFormat("s16le", 1), "sample_rate": int(row["native_rate_hz"])}
        audio = open_audio(REAL / row["file"], **options)  # type: ignore[arg-type]
        out.append((row["file"], np.concatenate(list(to_mono(audio))), audio.rate))
    return out


def as_raw_s16le(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="wav2text:demo-en")
    parser.add_argument("--voices", type=int, default=12, help="synthetic clips")
    args = parser.parse_args()
    transcriber = Transcriber(args.model)
    clips = synthetic(args.voices) + (real() if REAL.exists() else [])
    rates = list(CANDIDATE_RATES)
    confusion = np.zeros((len(rates), len(rates) + 1), dtype=int)  # last column: abstained
    far_wrong, costs = [], []
    for name, samples, rate in clips:
        for t, true_rate in enumerate(rates):
            data = as_raw_s16le(soxr.resample(samples, rate, true_rate, quality="HQ"))
            decoded = open_audio(data, raw=RawFormat("s16le", 1), sample_rate=16000)
            estimate = estimate_rate(np.concatenate(list(to_mono(decoded))), transcriber.model)
            costs.append(estimate.cost_s)
            if estimate.confidence < MIN_CONFIDENCE:
                confusion[t, -1] += 1
                continue
            confusion[t, rates.index(estimate.rate)] += 1
            if abs(np.log(estimate.rate / true_rate)) > np.log(1.1):
                far_wrong.append(f"{name} {true_rate} -> {estimate.top()}")
        print(f"{name}: done", file=sys.stderr, flush=True)
    total = confusion.sum()
    print(f"{len(clips)} clips x {len(rates)} rates = {total} estimates, model {args.model}")
    print("true \\ est " + " ".join(f"{r:>6}" for r in rates) + "   none")
    for t, true_rate in enumerate(rates):
        print(f"{true_rate:>10} " + " ".join(f"{n:>6}" for n in confusion[t]))
    exact = np.trace(confusion[:, : len(rates)]) / total
    print(f"exact: {exact:.1%}; abstained: {confusion[:, -1].sum() / total:.1%}; "
          f"confident and >10% off: {len(far_wrong)}")
    for line in far_wrong:
        print(f"  {line}")
    print(f"cost per estimate: median {np.median(costs):.2f} s, max {max(costs):.2f} s")
    _ = TranscribeOptions  # transcript equality is checked in tests/test_estimate.py


if __name__ == "__main__":
    main()
