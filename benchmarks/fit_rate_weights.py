"""Fit the rate estimator's weights (estimate.RateWeights) on the fit split of
benchmarks/rate_cases.py, and validate them leave-one-clip-out: each clip's estimates judged
by weights fitted without it. Never sees the held-out split.

    python benchmarks/fit_rate_weights.py [--voices 8] [--write]

The weights maximise the likelihood of the true rate (a conditional logit over the candidates:
log-odds = score_scale x model score + edge x stopband cue + trend x octaves above 16 kHz).
--write puts them in src/wav2text/rate_weights.py, the one place the estimator reads them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rate_cases import ROOT, arguments, cases
from wav2text import Transcriber
from wav2text.estimate import (
    WEIGHTS,
    RateEvidence,
    RateWeights,
    cues,
    judge,
    near,
    rate_evidence,
)
from wav2text.rate import CANDIDATE_RATES, RATE_CONFIDENCE

Labelled = tuple[str, int, RateEvidence]  # clip, true rate, evidence
WEIGHTS_FILE = ROOT / "src" / "wav2text" / "rate_weights.py"
_RIDGE = 0.01  # keeps the edge and trend weights finite where the data cannot pin them


def gather(model_name: str, voices: int) -> list[Labelled]:
    model = Transcriber(model_name).model
    rates = list(CANDIDATE_RATES)
    return [
        (case.clip, case.true_rate, rate_evidence(case.mono(), model, rates))
        for case in cases("fit", voices)
    ]


def fit(labelled: list[Labelled]) -> RateWeights:
    """Maximum likelihood of the true rates, by L-BFGS on the three weights."""
    features = torch.tensor(np.array([cues(e) for _, _, e in labelled]), dtype=torch.float64)
    truth = torch.tensor([e.candidates.index(r) for _, r, e in labelled])
    w = torch.tensor([20.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        odds = features @ w  # cases x candidates
        value = torch.nn.functional.cross_entropy(odds, truth) + _RIDGE * (w[1:] ** 2).sum()
        value.backward()
        return value

    optimiser.step(loss)
    score_scale, edge, trend = (round(float(v), 3) for v in w.detach())
    return RateWeights(score_scale=score_scale, edge=edge, trend=trend)


def leave_one_clip_out(labelled: list[Labelled]) -> list[tuple[int, int, float]]:
    """(true rate, estimate, confidence) for every case, judged by weights fitted without
    its clip."""
    out = []
    for clip in sorted({c for c, _, _ in labelled}):
        weights = fit([x for x in labelled if x[0] != clip])
        for _, true_rate, evidence in (x for x in labelled if x[0] == clip):
            estimate = judge(evidence, weights)
            out.append((true_rate, estimate.rate, estimate.confidence))
    return out


def summary(outcomes: list[tuple[int, int, float]]) -> str:
    answered = [(t, e) for t, e, c in outcomes if c >= RATE_CONFIDENCE]
    exact = sum(t == e for t, e in answered)
    far = sum(not near(t, e) for t, e in answered)
    n = len(outcomes)
    return (
        f"exact {exact / n:.1%}, refused {1 - len(answered) / n:.1%}, "
        f"confident and >10 % off {far} (bar {RATE_CONFIDENCE})"
    )


def write(weights: RateWeights, validated: str, path: Path = WEIGHTS_FILE) -> None:
    """The weights as the module's constants, under its docstring."""
    text = path.read_text()
    head = text[: text.index('"""', 3) + 3]
    path.write_text(
        f"{head}\n\n# leave-one-clip-out on the fit split:\n# {validated}\n"
        f"SCORE_SCALE = {weights.score_scale}\nEDGE = {weights.edge}\nTREND = {weights.trend}\n"
    )


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {WEIGHTS_FILE.name}")
    args = parser.parse_args()
    labelled = gather(args.model, args.voices)
    clips = len({c for c, _, _ in labelled})
    print(f"fit split: {clips} clips, {len(labelled)} estimates")
    in_use = [(r, judge(e, WEIGHTS)) for _, r, e in labelled]
    current = [(r, estimate.rate, estimate.confidence) for r, estimate in in_use]
    print(f"weights in use {WEIGHTS}, in-sample: {summary(current)}")
    fitted = fit(labelled)
    validated = summary(leave_one_clip_out(labelled))
    print(f"fitted {fitted}; leave-one-clip-out: {validated}")
    if args.write:
        write(fitted, validated)
        print(f"written to {WEIGHTS_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
