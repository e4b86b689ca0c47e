"""How an opened input's rate is decided: given and header rates as they are (a header's must
be plausible), an unknown one estimated by the model, a declared one checked against every
standard rate: by default the rate given for headerless PCM, on request any."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GIVE_RATE, InvalidSampleRateError
from ..rate import CANDIDATE_RATES, CHECKED_RATES_HZ, MAX_RATE_HZ, MIN_RATE_HZ, SEARCH_S
from .estimator import RateCheck, RateEstimate, check_declared, confident_rate, estimate_rate

if TYPE_CHECKING:
    from ..audio import DecodedAudio
    from ..model import CTCModel
    from ..options import TranscribeOptions


@dataclass(frozen=True)
class RateDecision:
    """The opened audio with its rate known, and how that rate was reached."""

    audio: DecodedAudio
    estimate: RateEstimate | None = None  # sample_rate="auto": the estimate that chose it
    check: RateCheck | None = None  # check_rate: what the model made of the header's rate


def decide_rate(audio: DecodedAudio, model: CTCModel, options: TranscribeOptions) -> RateDecision:
    """Given and header rates are used as they are (a header's must be plausible); an
    unknown one is estimated with the model; a declared one is checked as check_rate says.
    The audio's blocks stay intact for the pipeline."""
    if audio.rate is None:
        return _estimated(audio, model, options)
    if audio.rate_source == "header" and not MIN_RATE_HZ <= audio.rate <= MAX_RATE_HZ:
        raise InvalidSampleRateError(
            f"the file's header declares {audio.rate} Hz, which no recording uses: the header "
            "is damaged or wrong",
            GIVE_RATE,
        )
    if checked(audio, options):
        decision = check_declared_rate(audio, model)
        if decision.check:
            decision.check.enforce(options.check_rate)
        return decision
    return RateDecision(audio)


def checked(audio: DecodedAudio, options: TranscribeOptions) -> bool:
    """check_rate=None (the default): the rate given for headerless PCM, which carries none
    of its own; True or "strict": any declared rate, a header's too; False: none."""
    if options.check_rate is None:
        return options.raw is not None and audio.rate_source == "given"
    return options.check_rate is not False and audio.rate_source in ("given", "header")


def check_declared_rate(audio: DecodedAudio, model: CTCModel) -> RateDecision:
    """The declared rate tested by the model against the standard rates (and its own half
    and double): a warning when the speech clearly belongs to another."""
    assert audio.rate is not None
    declared = audio.rate
    candidates = rivals(declared)
    if len(candidates) < 2:
        return RateDecision(audio)
    audio, mono = _peek_mono(audio, int(SEARCH_S * max(candidates)))
    if mono is None:
        return RateDecision(audio)
    return RateDecision(audio, check=check_declared(mono, model, declared, candidates))


def rivals(declared: int) -> list[int]:
    """The rates a declared one is tested against: the standard ones, its half and double
    (those within CHECKED_RATES_HZ), and itself."""
    low, high = CHECKED_RATES_HZ
    tried = {*CANDIDATE_RATES, declared // 2, declared, declared * 2}
    return sorted(r for r in tried if low <= r <= high)


def _estimated(audio: DecodedAudio, model: CTCModel, options: TranscribeOptions) -> RateDecision:
    candidates = options.rate_candidates
    audio, mono = _peek_mono(audio, int(SEARCH_S * max(candidates)))
    if mono is None:  # no samples, or non-finite ones: nothing to estimate, and their own
        return RateDecision(audio)  # errors come as the blocks are read (rate still None)
    estimate = estimate_rate(mono, model, candidates)
    rate = confident_rate(estimate, options.rate_confidence)
    return RateDecision(replace(audio, rate=rate, rate_source="estimated"), estimate)


def _peek_mono(audio: DecodedAudio, limit: int) -> tuple[DecodedAudio, np.ndarray | None]:
    """The first `limit` samples as mono (None if empty or not finite), blocks intact."""
    blocks = iter(audio.blocks)
    head: list[np.ndarray] = []
    count = 0
    for block in blocks:
        head.append(block)
        count += len(block)
        if count >= limit:
            break
    audio = replace(audio, blocks=itertools.chain(head, blocks))
    mono = np.concatenate([b.mean(axis=1) for b in head]) if head else np.zeros(0)
    if not len(mono) or not np.isfinite(mono).all():
        return audio, None
    return audio, mono
