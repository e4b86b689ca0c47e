"""Fit the rate estimator's weights (estimate.RateWeights) and its confidence bar on the fit
split of benchmarks/rate_cases.py, and validate them leave-one-clip-out: each clip's estimates
judged by weights fitted without it. Never sees the held-out split.

    python benchmarks/fit_rate_weights.py [--voices 8] [--write]

The weights maximise the likelihood of the true rates under estimate.log_probabilities (the
product's own formula): model score, acoustic judge and per-octave trend weigh groups of near
candidates, the stopband edge splits a group. The confidence bar is one step of BARS above
the lowest at which the leave-one-clip-out answers hold no confident answer more than 10 %
off; of RIDGES, the one whose leave-one-clip-out answers at their bar are most often exact
(the product's aim: most right answers, none far off). --write puts the weights and the bar
in src/wav2text/estimation/weights.py, the one place the estimator reads them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rate_cases import ROOT, arguments, cases
from wav2text import Transcriber
from wav2text.estimation import acoustic
from wav2text.estimation.estimator import (
    WEIGHTS,
    RateEvidence,
    RateWeights,
    cues,
    judge,
    log_probabilities,
    near,
    near_groups,
    rate_evidence,
)
from wav2text.rate import CANDIDATE_RATES, RATE_CONFIDENCE

Labelled = tuple[str, int, RateEvidence]  # clip, true rate, evidence
Outcome = tuple[int, int, float]  # true rate, estimate, confidence
WEIGHTS_FILE = ROOT / "src" / "wav2text" / "estimation" / "weights.py"
BARS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
RIDGES = (1e-5, 1e-4, 3e-4, 1e-3, 3e-3)  # weight decay: keeps the fit from trusting any cue
DEFAULT_RIDGE = 1e-4


@dataclass(frozen=True)
class Validation:
    """Leave-one-clip-out answers under one ridge, and the bar they call for."""

    ridge: float
    outcomes: list[Outcome]
    bar: float

    @property
    def exact(self) -> int:
        """Exact answers at the bar; -1 where even the highest bar lets a far-off one by."""
        if far_off(self.outcomes, self.bar):
            return -1
        return sum(c >= self.bar and t == e for t, e, c in self.outcomes)


def gather(model_name: str, voices: int) -> list[Labelled]:
    model = Transcriber(model_name).model
    rates = list(CANDIDATE_RATES)
    return [
        (case.clip, case.true_rate, rate_evidence(case.mono(), model, rates))
        for case in cases("fit", voices)
    ]


def fit(labelled: list[Labelled], ridge: float = DEFAULT_RIDGE) -> RateWeights:
    """Maximum likelihood of the true rates, by L-BFGS on every weight."""
    features = torch.tensor(np.array([cues(e) for _, _, e in labelled]), dtype=torch.float64)
    groups = torch.from_numpy(near_groups(labelled[0][2].candidates))
    truth = torch.tensor([e.candidates.index(r) for _, r, e in labelled])
    w = torch.zeros(features.shape[-1], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        log_p = log_probabilities(features, groups, w)
        value = -log_p[torch.arange(len(truth)), truth].mean() + ridge * (w**2).sum()
        value.backward()
        return value

    optimiser.step(loss)
    score_scale, edge, trend, *rest = (round(float(v), 3) for v in w.detach())
    return RateWeights(score_scale, edge, trend, tuple(rest))


def leave_one_clip_out(labelled: list[Labelled], ridge: float = DEFAULT_RIDGE) -> list[Outcome]:
    """(true rate, estimate, confidence) for every case, judged by weights fitted without
    its clip."""
    out = []
    for clip in sorted({c for c, _, _ in labelled}):
        weights = fit([x for x in labelled if x[0] != clip], ridge)
        for _, true_rate, evidence in (x for x in labelled if x[0] == clip):
            estimate = judge(evidence, weights)
            out.append((true_rate, estimate.rate, estimate.confidence))
    return out


def validate(labelled: list[Labelled]) -> Validation:
    """The ridge whose leave-one-clip-out answers are most often exact at their own bar, with
    none far off (of equals, the larger: the plainer fit)."""
    tried = []
    for ridge in RIDGES:
        outcomes = leave_one_clip_out(labelled, ridge)
        tried.append(Validation(ridge, outcomes, choose_bar(outcomes)))
        print(f"ridge {ridge}: {summary(outcomes, tried[-1].bar)}")
    return max(reversed(tried), key=lambda v: v.exact)


def far_off(outcomes: list[Outcome], bar: float) -> int:
    return sum(c >= bar and not near(t, e) for t, e, c in outcomes)


def choose_bar(outcomes: list[Outcome]) -> float:
    """One step above the lowest bar with no far-off answer: a bar that only just clears the
    last wrong answer is no margin."""
    clear = [i for i, bar in enumerate(BARS) if far_off(outcomes, bar) == 0]
    return BARS[min(clear[0] + 1, len(BARS) - 1)] if clear else BARS[-1]


def summary(outcomes: list[Outcome], bar: float) -> str:
    answered = [(t, e) for t, e, c in outcomes if c >= bar]
    exact = sum(t == e for t, e in answered)
    n = len(outcomes)
    return (
        f"exact {exact / n:.1%}, refused {1 - len(answered) / n:.1%}, "
        f"confident and >10 % off {far_off(outcomes, bar)} (bar {bar})"
    )


def write(weights: RateWeights, bar: float, validated: str, path: Path = WEIGHTS_FILE) -> None:
    """The weights and the bar as the module's constants, under its docstring."""
    text = path.read_text()
    head = text[: text.index('"""', 3) + 3]
    named = zip(weights.acoustic, acoustic.FEATURES, strict=True)
    acoustic_lines = "".join(f"    {w!r},  # {name}\n" for w, name in named)
    path.write_text(
        f"{head}\n\n# leave-one-clip-out on the fit split:\n# {validated}\n"
        f"SCORE_SCALE = {weights.score_scale}\nEDGE = {weights.edge}\nTREND = {weights.trend}\n"
        f"ACOUSTIC = (  # per acoustic.FEATURES\n{acoustic_lines})\nCONFIDENCE = {bar}\n"
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
    print(f"weights in use {WEIGHTS}, in-sample: {summary(current, RATE_CONFIDENCE)}")
    chosen = validate(labelled)
    for bar in BARS:
        print(f"leave-one-clip-out, ridge {chosen.ridge}, at {summary(chosen.outcomes, bar)}")
    fitted = fit(labelled, chosen.ridge)
    validated = f"ridge {chosen.ridge}: {summary(chosen.outcomes, chosen.bar)}"
    print(f"fitted {fitted}; chosen: {validated}")
    if args.write:
        write(fitted, chosen.bar, validated)
        print(f"written to {WEIGHTS_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
