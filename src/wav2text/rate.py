"""The rate policy, all of it in one place.

What a sampling rate may be, how one is read from text (CLI, HTTP forms), the rates an
unknown one is chosen from, and resampling to the model's rate. Audio reaches the model at
the rate its feature extractor declares, or an error says why it cannot. How an input's rate
is decided (given, from the header, estimated, or checked) is `estimation.decide`'s.

An unknown rate (sample_rate="auto") is None on the opened audio until
`estimation.decide.decide_rate` estimates it; no placeholder number ever stands in for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
import soxr

from .errors import InvalidSampleRateError
from .estimation import weights

MIN_RATE_HZ = 1_000
MAX_RATE_HZ = 768_000  # the highest PCM rate real converters use
# Rates audio is commonly stored at; sample_rate="auto" chooses among the usual ones.
STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
CANDIDATE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
CHECKED_RATES_HZ = (4000, 192000)  # the rates a declared one is checked against lie in these
# FFmpeg's raw demuxer needs a rate to open headerless PCM whose rate is still unknown
# (sample_rate="auto"); the samples read are the same whatever it is told.
UNKNOWN_RATE_PLACEHOLDER = 16000
# Below it, "auto" refuses to guess; chosen with the weights (the trade: docs/audio-and-rates.md)
RATE_CONFIDENCE = weights.CONFIDENCE
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
