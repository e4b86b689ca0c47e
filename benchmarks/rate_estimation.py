"""How well `sample_rate="auto"` finds the rate of headerless audio, on both splits of
benchmarks/rate_cases.py: the one the estimator's weights were fitted on, and the one the fit
never saw (new voices, other real corpora, several resamplers, lossy sources).

    python benchmarks/rate_estimation.py [--model wav2text:demo-en] [--voices 8] [--split ...]

Per split: the confusion matrix (true rate x estimate), exact share, confident answers more
than 10 % off, refusals, how often the stopband cue decided between the 8.8 %-apart pairs, the
cost per estimate, and whether the transcript with the estimated rate equals the one with the
true rate. Then the declared-rate check (check_rate; by default for raw PCM's given rate):
content at R (8, 16, 22.05, 44.1 kHz) declared as each standard rate more than 10 % off,
flagged with a rate near R; false alarms on honest declarations; the cost of one check
(--declared-only runs this part alone).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rate_cases import SPLITS, Case, arguments, cases, sources
from wav2text import TranscribeOptions, Transcriber
from wav2text.audio import open_audio
from wav2text.estimation.decide import check_declared_rate
from wav2text.estimation.estimator import WEIGHTS, RateEstimate, judge, near, rate_evidence
from wav2text.rate import CANDIDATE_RATES, RATE_CONFIDENCE

RATES = list(CANDIDATE_RATES)


def estimation(transcriber: Transcriber, split: str, voices: int) -> None:
    confusion = np.zeros((len(RATES), len(RATES) + 1), dtype=int)  # last column: refused
    far_wrong, costs, same_text, compared = [], [], 0, 0
    outcomes: list[tuple[int, int, float, float]] = []  # true, estimate, confidence, its p
    decided = [0, 0]  # the edge changed the pick inside an 8.8 % pair: right, wrong
    clips = set()
    for case in cases(split, voices):
        clips.add(case.clip)
        estimate, without_edge = _estimates(transcriber, case)
        costs.append(estimate.cost_s)
        top = estimate.probabilities[0][1]
        outcomes.append((case.true_rate, estimate.rate, estimate.confidence, top))
        if estimate.rate != without_edge.rate and near(estimate.rate, without_edge.rate):
            decided[estimate.rate != case.true_rate] += 1
        if estimate.confidence < RATE_CONFIDENCE:
            confusion[RATES.index(case.true_rate), -1] += 1
            continue
        confusion[RATES.index(case.true_rate), RATES.index(estimate.rate)] += 1
        if not near(estimate.rate, case.true_rate):
            far_wrong.append(f"{case.clip} ({case.made}) {case.true_rate} -> {estimate.top()}")
        if estimate.rate == case.true_rate and len(outcomes) % 3 == 0:  # on a third
            same_text += _same_transcript(transcriber, case)
            compared += 1
    print(f"\n## {split}: {len(clips)} clips x {len(RATES)} rates = {confusion.sum()} estimates")
    _print_confusion(confusion, far_wrong)
    print(
        f"the stopband cue decided an 8.8 % pair: {sum(decided)} times "
        f"({decided[0]} right, {decided[1]} wrong)"
    )
    print(f"cost per estimate: median {np.median(costs):.2f} s, max {max(costs):.2f} s")
    thresholds(outcomes)
    print(f"transcript with estimated rate == with true rate: {same_text}/{compared}")


def _estimates(transcriber: Transcriber, case: Case) -> tuple[RateEstimate, RateEstimate]:
    """The estimate as the product makes it, and the same evidence judged without the edge."""
    started = time.perf_counter()
    evidence = rate_evidence(case.mono(), transcriber.model, RATES)
    estimate = judge(evidence, WEIGHTS, cost_s=time.perf_counter() - started)
    return estimate, judge(evidence, replace(WEIGHTS, edge=0.0))


def _same_transcript(transcriber: Transcriber, case: Case) -> bool:
    auto = transcriber.transcribe(case.data, TranscribeOptions(raw=case.raw, sample_rate="auto"))
    known = transcriber.transcribe(
        case.data, TranscribeOptions(raw=case.raw, sample_rate=case.true_rate)
    )
    return auto.text == known.text


def _print_confusion(confusion: np.ndarray, far_wrong: list[str]) -> None:
    total = confusion.sum()
    print("true \\ est " + " ".join(f"{r:>6}" for r in RATES) + "   none")
    for t, true_rate in enumerate(RATES):
        print(f"{true_rate:>10} " + " ".join(f"{n:>6}" for n in confusion[t]))
    exact = np.trace(confusion[:, : len(RATES)]) / total
    print(
        f"exact: {exact:.1%}; refused: {confusion[:, -1].sum() / total:.1%}; "
        f"confident and >10% off: {len(far_wrong)}"
    )
    for line in far_wrong:
        print(f"  {line}")


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


def mislabelling(transcriber: Transcriber, split: str, voices: int) -> None:
    """Content at R declared as another standard rate more than 10 % off (what a wrong
    --sample-rate for raw PCM, or a lying header, does), and declared honestly: how often
    the check flags the first with a rate near the truth, how often it cries wolf on the
    second, and what one check costs."""
    flagged = tried = false_alarms = honest = 0
    costs: list[float] = []
    shares: list[tuple[bool, bool, float]] = []  # honest?, likely near the truth?, its share
    for source in sources(split, voices):
        samples, rate = source.samples, source.rate
        for content in (8000, 16000, 22050, 44100):
            data = soxr.resample(samples, rate, content, quality="HQ").astype(np.float32)
            for declared in RATES:
                if declared != content and near(declared, content):
                    continue  # 8.8 % apart: a pitch the model hardly minds
                audio = open_audio(data, sample_rate=declared)
                started = time.perf_counter()
                check = check_declared_rate(audio, transcriber.model).check
                costs.append(time.perf_counter() - started)
                assert check is not None
                away = not near(check.likely, declared)
                shares.append((declared == content, near(check.likely, content), check.fit))
                shares[-1] = shares[-1] if away else (shares[-1][0], False, 1.0)
                if declared == content:
                    honest += 1
                    false_alarms += check.mislabelled
                else:
                    tried += 1
                    flagged += check.mislabelled and near(check.likely, content)
    print(
        f"wrong declared rates flagged with a rate near the truth: {flagged}/{tried} "
        f"({flagged / tried:.1%}); false alarms on honest ones: {false_alarms}/{honest} "
        f"({false_alarms / honest:.1%}); median cost {np.median(costs):.2f} s [{split}]"
    )
    print("  other bars on the declared rate's share (MISLABEL_CONFIDENCE = 1 - bar):")
    for bar in (0.01, 0.02, 0.05, 0.1, 0.2):
        caught = sum(not h and right and fit <= bar for h, right, fit in shares)
        alarms = sum(h and fit <= bar for h, _, fit in shares)
        print(f"    {bar:4.2f}: caught {caught}/{tried}, false alarms {alarms}/{honest}")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--split", choices=[*SPLITS, "both"], default="both")
    parser.add_argument("--no-headers", action="store_true", help="skip the mislabelling part")
    parser.add_argument(
        "--declared-only", action="store_true", help="only the mislabelling part (the check)"
    )
    args = parser.parse_args()
    transcriber = Transcriber(args.model)
    print(f"model {args.model}; weights {WEIGHTS}")
    for split in SPLITS if args.split == "both" else (args.split,):
        if not args.declared_only:
            estimation(transcriber, split, args.voices)
        if not args.no_headers:
            mislabelling(transcriber, split, args.voices)


if __name__ == "__main__":
    main()
