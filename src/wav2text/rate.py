"""The rate policy, all of it in one place.

What a sampling rate may be, how one is read from text (CLI, HTTP forms), the rates an
unknown one is chosen from, how the input's rate is decided (given, from the header,
estimated, or checked), and resampling to the model's rate. Audio reaches the model at the
rate its feature extractor declares, or an error says why it cannot.

An unknown rate (sample_rate="auto") is None on the opened audio until `decide_rate`
estimates it; no placeholder number ever stands in for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import soxr

from . import rate_weights
from .errors import InvalidSampleRateError
from .estimate import RateCheck, RateEstimate, check_declared, confident_rate, estimate_rate

if TYPE_CHECKING:
    from .audio import DecodedAudio
    from .model import CTCModel
    from .options import TranscribeOptions

MIN_RATE_HZ = 1_000
MAX_RATE_HZ = 768_000  # the highest PCM rate real converters use
# The rates sample_rate="auto" chooses from: those audio is commonly stored at.
CANDIDATE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
# Below it, "auto" refuses to guess; chosen with the weights (the trade: docs/audio-and-rates.md)
RATE_CONFIDENCE = rate_weights.CONFIDENCE
RESAMPLE_QUALITY = "HQ"  # soxr high quality: 20-bit, flat to 91 % of Nyquist
SEARCH_S = 30.0  # an estimate's excerpt is sought in the first this-many seconds

RateChoice = int | Literal["auto"] | None  # what a caller may say of an input's rate


def valid_rate(rate: object) -> int:
    """A sampling rate in Hz as an int, or InvalidSampleRateError saying what is wrong."""
    if isinstance(rate, (float, np.floating)) and float(rate).is_integer():
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise InvalidSampleRateError(f"sampling rate must be a whole number of Hz, got {rate!r}")
    if not MIN_RATE_HZ <= int(rate) <= MAX_RATE_HZ:
        raise InvalidSampleRateError(
            f"sampling rate {rate} Hz is not plausible; give the rate the audio was "
            f"recorded at, between {MIN_RATE_HZ} and {MAX_RATE_HZ} Hz (e.g. 16000 or 44100)"
        )
    return int(rate)


def parse_rate(text: str) -> int | Literal["auto"]:
    """A rate from text, as the CLI and the server take it: ASCII digits, or "auto"."""
    if text == "auto":
        return "auto"
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_RATE_HZ))):
        raise InvalidSampleRateError(
            f"a sampling rate is a whole number of Hz (e.g. 16000) or 'auto', not {text[:20]!r}"
        )
    return valid_rate(int(text))


@dataclass(frozen=True)
class RateDecision:
    """The opened audio with its rate known, and how that rate was reached."""

    audio: DecodedAudio
    estimate: RateEstimate | None = None  # sample_rate="auto": the estimate that chose it
    check: RateCheck | None = None  # check_rate: what the model made of the header's rate


def decide_rate(audio: DecodedAudio, model: CTCModel, options: TranscribeOptions) -> RateDecision:
    """Given and header rates are used as they are (a header's must be plausible); an
    unknown one is estimated with the model; check_rate tests a header's against its half
    and double. The audio's blocks stay intact for the pipeline."""
    if audio.rate is None:
        return _estimated(audio, model, options)
    if audio.rate_source == "header" and not MIN_RATE_HZ <= audio.rate <= MAX_RATE_HZ:
        raise InvalidSampleRateError(
            f"the file's header declares {audio.rate} Hz, which no recording uses: the header "
            "is damaged or wrong; pass the true rate with sample_rate=RATE (CLI: "
            "--sample-rate RATE) to read the samples at it"
        )
    if options.check_rate and audio.rate_source == "header":
        return check_header(audio, model)
    return RateDecision(audio)


def check_header(audio: DecodedAudio, model: CTCModel) -> RateDecision:
    """The header's rate tested against its half and double by the model."""
    assert audio.rate is not None
    declared = audio.rate
    candidates = [r for r in (declared // 2, declared, declared * 2) if 4000 <= r <= 192000]
    if len(candidates) < 2:
        return RateDecision(audio)
    audio, mono = _peek_mono(audio, int(SEARCH_S * max(candidates)))
    if mono is None:
        return RateDecision(audio)
    return RateDecision(audio, check=check_declared(mono, model, declared, candidates))


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


def resample_stream(
    blocks: Iterable[np.ndarray], from_rate: int, to_rate: int
) -> Iterator[np.ndarray]:
    """Resample mono float32 blocks with soxr's streaming resampler (no-op at equal rates)."""
    if from_rate == to_rate:
        yield from blocks
        return
    stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    for block in blocks:
        out = stream.resample_chunk(block)
        if len(out):
            yield out
    tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if len(tail):
        yield tail
