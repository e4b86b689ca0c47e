"""The sampling rate of samples nobody labelled, estimated by the model that will read them.

Read at the wrong rate, speech is sped up or slowed down and every formant moves: a
model trained on real speech recognises it with far less confidence. Each candidate
rate is tried on the same excerpt (resampled to the model's rate as if it were true);
the model's confidence on its speech frames scores it. A second cue settles candidates
the model cannot tell apart: audio resampled from a standard rate reaches its spectrum's
floor at the source's Nyquist frequency (a resampler's stopband), and under the true rate
that edge sits at a standard Nyquist frequency (spectrum.stopband_edge, edge_rates). A third
judge heard real speech: Sphinx's US-English acoustic model scores each reading too
(acoustic.py), since the model that will transcribe may have heard little of it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import soxr

from ..blas import one_blas_thread
from ..errors import GIVE_RATE, Fix, SampleRateMismatchError, UnknownSampleRateError
from . import acoustic, weights
from .spectrum import edge_rates, long_term_spectrum, stopband_edge

EXCERPT_S = 6.0  # seconds of audio scored per candidate, whatever the candidate
# Rates this close (22050/24000, 44100/48000: 8.8 %) move pitch and tempo by less than
# speakers differ, and give the model nearly the same speech: one answer, not rivals.
NEAR = 1.1
_NOMINAL = 48000  # any rate: the cut is measured as a fraction of it

if TYPE_CHECKING:  # torch loads on first use: the CLI's help and errors start without it
    import torch

    from ..model import CTCModel


@dataclass(frozen=True)
class RateWeights:
    """Log-odds per unit of each cue, for one candidate against the others."""

    score_scale: float  # per unit of the model's mean log-probability on speech frames
    edge: float  # where a stopband edge under the candidate lands on a standard Nyquist
    trend: float  # per octave of candidate rate above 16 kHz: the model's lean, undone
    acoustic: tuple[float, ...]  # per unit of each of acoustic.FEATURES, in that order


WEIGHTS = RateWeights(weights.SCORE_SCALE, weights.EDGE, weights.TREND, weights.ACOUSTIC)


@dataclass(frozen=True)
class RateEvidence:
    """What the audio says about each candidate, before any weighing."""

    candidates: tuple[int, ...]
    model_scores: tuple[float, ...]  # mean log-probability of the model's choice on speech
    edges: tuple[bool, ...]  # a stopband edge lands on a standard Nyquist under the candidate
    acoustic_scores: tuple[tuple[float, ...], ...]  # per candidate, acoustic.FEATURES
    excerpt_s: float


@dataclass(frozen=True)
class RateEstimate:
    rate: int
    confidence: float  # probability that the true rate is within 10 % (NEAR) of `rate`
    runner_up: int
    probabilities: tuple[tuple[int, float], ...]  # candidate -> probability, best first
    excerpt_s: float  # seconds of audio scored per candidate
    cost_s: float  # wall time spent estimating

    def top(self, n: int = 3) -> str:
        return ", ".join(f"{rate} Hz ({p:.0%})" for rate, p in self.probabilities[:n])


def estimate_rate(
    samples: np.ndarray,
    model: CTCModel,
    candidates: Sequence[int],
    excerpt_s: float = EXCERPT_S,
    weights: RateWeights = WEIGHTS,
) -> RateEstimate:
    """Score each candidate rate on one excerpt of mono float samples."""
    started = time.perf_counter()
    with one_blas_thread():
        evidence = rate_evidence(samples, model, candidates, excerpt_s)
    return judge(evidence, weights, cost_s=time.perf_counter() - started)


def rate_evidence(
    samples: np.ndarray, model: CTCModel, candidates: Sequence[int], excerpt_s: float = EXCERPT_S
) -> RateEvidence:
    """Each candidate tried on the same loudest excerpt: the model's score, the edge cue and
    the acoustic judge's scores."""
    start = _loudest_start(samples, int(excerpt_s * float(np.median(candidates))))
    cut = _cut_fraction(samples[start : start + int(excerpt_s * max(candidates))])
    readings = [(samples[start : start + int(excerpt_s * rate)], rate) for rate in candidates]
    return RateEvidence(
        candidates=tuple(int(c) for c in candidates),
        model_scores=tuple(_model_score(model, excerpt, rate) for excerpt, rate in readings),
        edges=tuple(cut is not None and bool(edge_rates(cut * rate)) for rate in candidates),
        acoustic_scores=tuple(
            tuple(float(v) for v in acoustic.reading_scores(excerpt, rate))
            for excerpt, rate in readings
        ),
        excerpt_s=excerpt_s,
    )


def cues(evidence: RateEvidence) -> np.ndarray:
    """candidates x (model score, edge cue, octaves above 16 kHz, *acoustic.FEATURES): what
    RateWeights weigh, in the order of weight_vector."""
    return np.column_stack(
        [
            np.array(evidence.model_scores),
            np.array(evidence.edges, dtype=float),
            np.log2(np.array(evidence.candidates) / 16000),
            np.array(evidence.acoustic_scores, dtype=float).reshape(len(evidence.candidates), -1),
        ]
    )


EDGE_COLUMN = 1  # of cues(): the one cue that only splits a group of near candidates


def weight_vector(weights: RateWeights) -> np.ndarray:
    return np.array([weights.score_scale, weights.edge, weights.trend, *weights.acoustic])


def near_groups(candidates: Sequence[int]) -> np.ndarray:
    """candidates x candidates: whether two are within NEAR of each other."""
    return np.array([[near(a, b) for b in candidates] for a in candidates])


def log_probabilities(
    cues: torch.Tensor, groups: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Each candidate's log-probability, over the last axis of cues (..., candidates, cues).

    The model score, the acoustic judge and the trend weigh groups of near candidates against
    each other; the edge cue only shares a group's probability out among its members. A
    codec's band limit can pass for a resampler's stopband under a reading a step away
    (an MP3 at 32 kHz read as 24 kHz), so the edge may tell 22050 from 24000 but must never
    move the answer 10 % or more.
    """
    import torch

    edge = torch.zeros_like(weights)
    edge[EDGE_COLUMN] = 1
    others = cues @ (weights * (1 - edge))
    every = cues @ weights
    outside = torch.zeros(groups.shape, dtype=cues.dtype).masked_fill(~groups, -torch.inf)
    group_mass = torch.logsumexp(others.unsqueeze(-2) + outside, -1) - torch.logsumexp(
        others, -1, keepdim=True
    )
    share = every - torch.logsumexp(every.unsqueeze(-2) + outside, -1)
    joint = group_mass + share  # sums to 1 where nearness groups candidates cleanly
    return joint - torch.logsumexp(joint, -1, keepdim=True)


def judge(evidence: RateEvidence, weights: RateWeights, cost_s: float = 0.0) -> RateEstimate:
    """The evidence weighed: a probability per candidate, the best one, its confidence."""
    import torch

    log_p = log_probabilities(
        torch.from_numpy(cues(evidence)),
        torch.from_numpy(near_groups(evidence.candidates)),
        torch.from_numpy(weight_vector(weights)),
    )
    probabilities = log_p.exp().numpy()
    order = np.argsort(-probabilities, kind="stable")
    ranked = tuple((evidence.candidates[i], float(probabilities[i])) for i in order)
    return RateEstimate(
        rate=ranked[0][0],
        confidence=probability_near(ranked, ranked[0][0]),
        runner_up=ranked[1][0] if len(ranked) > 1 else ranked[0][0],
        probabilities=ranked,
        excerpt_s=evidence.excerpt_s,
        cost_s=cost_s,
    )


def near(rate: int, other: int) -> bool:
    """Whether two rates are within NEAR (10 %) of each other: one answer, not rivals."""
    return bool(abs(np.log(rate / other)) <= np.log(NEAR))


def probability_near(probabilities: Sequence[tuple[int, float]], rate: int) -> float:
    """The probability of the candidates within NEAR of `rate` (itself included)."""
    return sum(p for r, p in probabilities if near(r, rate))


def confident_rate(estimate: RateEstimate, threshold: float) -> int:
    """The estimated rate, or UnknownSampleRateError when the evidence is too weak."""
    if estimate.confidence < threshold:
        raise UnknownSampleRateError(
            f"could not tell the sampling rate from the audio (best guesses: {estimate.top()})",
            GIVE_RATE,
        )
    return estimate.rate


@dataclass(frozen=True)
class RateCheck:
    """Whether a declared rate (a header's, or the one given) fits the content, from the
    model's view."""

    declared: int
    likely: int  # the best of the standard rates and the declared one's half and double
    confidence: float  # that the true rate is within 10 % of `likely`
    fit: float  # that the true rate is within 10 % of the declared one

    @property
    def mislabelled(self) -> bool:
        """The speech clearly does not fit the declared rate: it sounds like another, more
        than 10 % off, and the declared rate keeps at most 1 - MISLABEL_CONFIDENCE of the
        evidence (however the rest is spread over the other rates)."""
        unlikely = self.fit <= 1 - MISLABEL_CONFIDENCE
        return not near(self.likely, self.declared) and unlikely

    def warning(self) -> str | None:
        if not self.mislabelled:
            return None
        speed = "fast" if self.likely < self.declared else "slow"
        return (
            f"the audio was declared {self.declared} Hz but the speech sounds like "
            f"{self.likely} Hz ({self.confidence:.0%}; {self.declared} Hz: {self.fit:.0%}; read "
            f"at {self.declared} Hz it plays too {speed}, and the transcript is likely wrong); "
            f"if {self.likely} Hz is right, give that rate"
        )

    def enforce(self, check_rate: bool | str | None) -> None:
        """Strict checking (check_rate="strict") refuses a mislabelled rate."""
        if check_rate == "strict" and self.mislabelled:
            raise self.refusal()

    def refusal(self) -> SampleRateMismatchError:
        """What strict checking raises for a mislabelled rate."""
        likely = self.likely
        return SampleRateMismatchError(
            f"the audio was declared {self.declared} Hz but the speech sounds like {likely} "
            f"Hz ({self.confidence:.0%}; {self.declared} Hz: {self.fit:.0%}): refused, as "
            "strict checking asks",
            Fix(
                f"if {likely} Hz is right, pass sample_rate={likely}; check_rate=True "
                "transcribes at the declared rate with a warning",
                f"if {likely} Hz is right, give --sample-rate {likely}; --check-rate instead "
                "of --strict-rate transcribes at the declared rate with a warning",
                f"if {likely} Hz is right, declare sample_rate={likely}; check_rate=true "
                "transcribes at the declared rate with a warning",
            ),
        )


# Chosen on the fit split of benchmarks/rate_cases.py (benchmarks/rate_estimation.py
# --declared-only): a bar on the declared rate's share caught 96.7 % of wrong rates there,
# against 80.2 % for the same bar on the likeliest other rate, with no false alarm; the
# honest rates' share was 0.50 at the lowest.
MISLABEL_CONFIDENCE = 0.9


def check_declared(
    samples: np.ndarray, model: CTCModel, declared: int, candidates: Sequence[int]
) -> RateCheck:
    """Score a declared rate against its rivals on mono samples."""
    estimate = estimate_rate(samples, model, candidates)
    fit = probability_near(estimate.probabilities, declared)
    return RateCheck(declared, estimate.rate, estimate.confidence, fit)


def _loudest_start(samples: np.ndarray, length: int) -> int:
    """Start of the window of `length` samples holding the most energy."""
    if len(samples) <= length:
        return 0
    block = max(1, length // 8)
    energy = np.add.reduceat(samples.astype(np.float64) ** 2, np.arange(0, len(samples), block))
    window = np.convolve(energy, np.ones(8), mode="valid")
    return int(np.argmax(window)) * block


def _model_score(model: CTCModel, excerpt: np.ndarray, rate: int) -> float:
    """Mean log-probability of the model's choice on frames it hears as speech."""
    audio = soxr.resample(excerpt, rate, model.sampling_rate, quality="HQ")
    if len(audio) < model.min_samples:
        return -10.0
    log_probs = model.log_probs(audio.astype(np.float32))
    speech = log_probs[:, model.vocab.blank] < np.log(0.5)
    if speech.sum() < 3:
        return -10.0
    return float(log_probs[speech].max(axis=1).mean())


def _cut_fraction(samples: np.ndarray) -> float | None:
    """A stopband edge in the spectrum, as a fraction of the sampling rate; None if none."""
    spectrum = long_term_spectrum(samples)
    edge = None if spectrum is None else stopband_edge(spectrum, _NOMINAL)
    return None if edge is None else edge / _NOMINAL
