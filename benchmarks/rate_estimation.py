"""How well `sample_rate="auto"` finds the rate of headerless audio.

    python benchmarks/rate_estimation.py [--model wav2text:demo-en] [--voices 12]

Labelled set: synthetic speech (held-out sentences, seen and held-out voices) and the
real clips in tests/data/real with at least 2 s of audio, each resampled to every
candidate rate and written as headerless s16le PCM. Prints the confusion matrix (true
rate x estimate), exact share, confident answers more than 10 % off, abstentions, and
the cost per estimate, and whether the transcript with the estimated rate equals the one
with the true rate. Then mislabelled headers: content at R (8, 16, 22.05 kHz) declared as
R/2 or 2R, flagged with the true rate by --check-rate; false alarms on honest headers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from training.real import real_clips  # noqa: E402

from wav2text import RawFormat, TranscribeOptions, Transcriber  # noqa: E402
from wav2text.audio import open_audio, open_with, to_mono  # noqa: E402
from wav2text.estimate import estimate_rate, near  # noqa: E402
from wav2text.rate import CANDIDATE_RATES, RATE_CONFIDENCE, check_header  # noqa: E402


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
    out = []
    for clip in real_clips(min_seconds=min_seconds):
        audio = open_with(clip.path, clip.options())
        out.append((clip.file, np.concatenate(list(to_mono(audio))), audio.rate))
    return out


def as_raw_s16le(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def estimation(transcriber: Transcriber, clips: list, rates: list[int]) -> None:
    confusion = np.zeros((len(rates), len(rates) + 1), dtype=int)  # last column: abstained
    far_wrong, costs, same_text, compared = [], [], 0, 0
    outcomes: list[tuple[int, int, float, float]] = []  # true, estimate, confidence, its p
    for name, samples, rate in clips:
        for t, true_rate in enumerate(rates):
            data = as_raw_s16le(soxr.resample(samples, rate, true_rate, quality="HQ"))
            decoded = open_audio(data, raw=RawFormat("s16le", 1), sample_rate=16000)
            estimate = estimate_rate(
                np.concatenate(list(to_mono(decoded))), transcriber.model, rates
            )
            costs.append(estimate.cost_s)
            top = estimate.probabilities[0][1]
            outcomes.append((true_rate, estimate.rate, estimate.confidence, top))
            if estimate.confidence < RATE_CONFIDENCE:
                confusion[t, -1] += 1
                continue
            confusion[t, rates.index(estimate.rate)] += 1
            if not near(estimate.rate, true_rate):
                far_wrong.append(f"{name} {true_rate} -> {estimate.top()}")
            if estimate.rate == true_rate and t % 3 == 0:  # transcript check on a third
                raw = RawFormat("s16le", 1)
                auto = transcriber.transcribe(data, TranscribeOptions(raw=raw, sample_rate="auto"))
                known = transcriber.transcribe(
                    data, TranscribeOptions(raw=raw, sample_rate=true_rate)
                )
                same_text += auto.text == known.text
                compared += 1
        print(f"{name}: done", file=sys.stderr, flush=True)
    total = confusion.sum()
    print(f"{len(clips)} clips x {len(rates)} rates = {total} estimates")
    print("true \\ est " + " ".join(f"{r:>6}" for r in rates) + "   none")
    for t, true_rate in enumerate(rates):
        print(f"{true_rate:>10} " + " ".join(f"{n:>6}" for n in confusion[t]))
    exact = np.trace(confusion[:, : len(rates)]) / total
    print(
        f"exact: {exact:.1%}; abstained: {confusion[:, -1].sum() / total:.1%}; "
        f"confident and >10% off: {len(far_wrong)}"
    )
    for line in far_wrong:
        print(f"  {line}")
    print(f"cost per estimate: median {np.median(costs):.2f} s, max {max(costs):.2f} s")
    thresholds(outcomes)
    print(f"transcript with estimated rate == with true rate: {same_text}/{compared}")


def thresholds(outcomes: list[tuple[int, int, float, float]]) -> None:
    """What other bars would give, for the confidence used (the probability within 10 % of
    the estimate) and for the estimate's own probability: refusing against being wrong."""
    print("| confidence | bar | exact | refused | confident, >10 % off | confident, <=10 % off |")
    print("|---|---|---|---|---|---|")
    for rule, column in (("within 10 %", 2), ("estimate alone", 3)):
        for bar in (0.5, 0.6, 0.7, 0.8, 0.9):
            answered = [(o[0], o[1]) for o in outcomes if o[column] >= bar]
            exact = sum(t == e for t, e in answered)
            far = sum(not near(e, t) for t, e in answered)
            close = len(answered) - exact - far
            n = len(outcomes)
            used = " (used)" if column == 2 and bar == RATE_CONFIDENCE else ""
            print(
                f"| {rule} | {bar:.1f}{used} | {exact / n:.1%} "
                f"| {1 - len(answered) / n:.1%} | {far} | {close} |"
            )


def mislabelling(transcriber: Transcriber, clips: list) -> None:
    """Content at R in a container that says 2R or R/2, and honest headers."""
    flagged = tried = false_alarms = honest = 0
    for _name, samples, rate in clips:
        for content in (8000, 16000, 22050):
            data = soxr.resample(samples, rate, content, quality="HQ").astype(np.float32)
            for header in (content // 2, content, content * 2):
                audio = open_audio(data, sample_rate=header)
                check = check_header(audio, transcriber.model).check
                assert check is not None
                if header == content:
                    honest += 1
                    false_alarms += check.mislabelled
                else:
                    tried += 1
                    flagged += check.mislabelled and check.likely == content
    print(
        f"mislabelled headers flagged with the true rate: {flagged}/{tried} "
        f"({flagged / tried:.1%}); false alarms on honest headers: {false_alarms}/{honest} "
        f"({false_alarms / honest:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="wav2text:demo-en")
    parser.add_argument("--voices", type=int, default=12, help="synthetic clips")
    args = parser.parse_args()
    transcriber = Transcriber(args.model)
    clips = synthetic(args.voices) + real()
    print(f"model {args.model}")
    estimation(transcriber, clips, list(CANDIDATE_RATES))
    mislabelling(transcriber, clips)


if __name__ == "__main__":
    main()
