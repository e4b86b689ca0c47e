"""The stopband cue: where a resampler leaves the spectrum's floor names the source rate;
gradual roll-off, full-band audio and slow filters name no rate (never a wrong one)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import soxr

import resamplers
from conftest import need_tool
from wav2text.estimation.spectrum import edge_rates, long_term_spectrum, stopband_edge

PAIRS = [(8000, 16000), (16000, 22050), (22050, 48000), (24000, 44100), (11025, 32000)]
Resample = Callable[[np.ndarray, int, int], np.ndarray]


def _sox(x: np.ndarray, s: int, t: int) -> np.ndarray:
    need_tool("sox")
    return resamplers.sox(x, s, t)


def _libsamplerate(x: np.ndarray, s: int, t: int) -> np.ndarray:
    pytest.importorskip("samplerate")
    return resamplers.libsamplerate(x, s, t)


BRICK_WALLS: dict[str, Resample] = {
    "soxr VHQ": lambda x, s, t: soxr.resample(x, s, t, quality="VHQ"),
    "soxr HQ": lambda x, s, t: soxr.resample(x, s, t, quality="HQ"),
    "soxr LQ": lambda x, s, t: soxr.resample(x, s, t, quality="LQ"),
    "sox rate -h": _sox,
    "libsamplerate sinc_best": _libsamplerate,
}


def noise(rate: int, seconds: float = 4.0) -> np.ndarray:
    return (np.random.default_rng(rate).standard_normal(int(rate * seconds)) * 0.1).astype(
        np.float32
    )


def edge_of(samples: np.ndarray, rate: int) -> float | None:
    as_s16 = np.round(np.clip(samples, -1, 1) * 32767) / 32767  # how a file would hold it
    spectrum = long_term_spectrum(as_s16)
    assert spectrum is not None
    return stopband_edge(spectrum, rate)


@pytest.mark.parametrize("name", BRICK_WALLS)
@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_each_resamplers_stopband_names_the_source_rate(
    name: str, source: int, target: int
) -> None:
    edge = edge_of(BRICK_WALLS[name](noise(source), source, target), target)
    assert edge is not None and source in edge_rates(edge), edge


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_the_wrong_reading_of_a_near_pair_is_not_named(source: int, target: int) -> None:
    """Read 8.8 % off (22050 as 24000), the edge moves out of the accepted band."""
    edge = edge_of(soxr.resample(noise(source), source, target, quality="HQ"), target)
    assert edge is not None
    assert source not in edge_rates(edge * 1.088) and source not in edge_rates(edge / 1.088)


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_a_slow_filter_names_no_rate_rather_than_a_wrong_one(source: int, target: int) -> None:
    """FFmpeg's default swr filter reaches the floor 15-20 % past the source's Nyquist:
    no standard rate is named (measured in benchmarks/stopband.py), so no cue, no harm."""
    edge = edge_of(resamplers.swr(noise(source), source, target), target)
    assert edge is None or not edge_rates(edge)


def test_negative_controls_full_band_and_gradual_roll_off_have_no_edge() -> None:
    rate = 48000
    assert edge_of(noise(rate), rate) is None  # nothing removed: no stopband
    white = noise(rate).astype(np.float64)
    gentle = np.empty_like(white)  # one-pole low-pass at ~2 kHz: speech-like slope, no wall
    state, alpha = 0.0, 0.25
    for i, value in enumerate(white):
        state += alpha * (value - state)
        gentle[i] = state
    assert edge_of(gentle.astype(np.float32), rate) is None


def test_a_brick_wall_far_from_any_standard_rate_is_found_but_names_none() -> None:
    """A cut at 7 kHz (no standard Nyquist within 5 %) is an edge, and points nowhere. The
    edge lies a little above an ideal wall: the analysis window's leakage (about 300 Hz
    down to 16-bit quantisation); real resamplers' edges, measured the same way, set the band."""
    rate, cut = 48000, 7000
    spectrum = np.fft.rfft(noise(rate).astype(np.float64))
    spectrum[np.fft.rfftfreq(rate * 4, 1 / rate) > cut] = 0
    walled = np.fft.irfft(spectrum).astype(np.float32)
    edge = edge_of(walled, rate)
    assert edge is not None and cut <= edge < 1.05 * cut
    assert edge_rates(edge) == ()
