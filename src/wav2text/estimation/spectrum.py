"""Long-term spectrum of audible frames, and the brick-wall cut that resampling leaves."""

from __future__ import annotations

import numpy as np

from ..rate import STANDARD_RATES

SILENT_FRAME_DBFS = -50.0  # a frame quieter than this counts as silence
EDGE_DROP_DB = 30.0  # a brick-wall cut: this much lower just above the edge than below it
_FFT = 2048


class SpectrumMeter:
    """Accumulates the power spectrum of audible FFT frames of a mono stream."""

    def __init__(self) -> None:
        self.spectrum = np.zeros(_FFT // 2 + 1)
        self.frames = self.audible = 0
        self._carry = np.zeros(0)
        self._window = np.hanning(_FFT)

    def add(self, mono: np.ndarray) -> None:
        mono = np.concatenate([self._carry, mono.astype(np.float64)])
        whole = len(mono) // _FFT * _FFT
        frames = mono[:whole].reshape(-1, _FFT)
        self._carry = mono[whole:]
        if not len(frames):
            return
        rms_db = 10 * np.log10((frames**2).mean(axis=1) + 1e-20)
        audible = frames[rms_db > SILENT_FRAME_DBFS]
        self.frames += len(frames)
        self.audible += len(audible)
        if len(audible):
            power = np.abs(np.fft.rfft(audible * self._window, axis=1)) ** 2
            self.spectrum += power.sum(axis=0)


def long_term_spectrum(mono: np.ndarray) -> np.ndarray | None:
    """Summed power spectrum of the audible frames of mono samples; None if all silent."""
    meter = SpectrumMeter()
    meter.add(mono)
    return meter.spectrum if meter.audible else None


def effective_bandwidth(spectrum: np.ndarray, rate: int) -> float:
    """The frequency of a brick-wall cut in a long-term spectrum, or Nyquist when none.

    A cut is where the level just above a frequency is EDGE_DROP_DB below the level just
    under it and stays there: what resampling from a lower rate leaves. Natural roll-off
    of speech is gradual and does not count.
    """
    freqs = np.linspace(0, rate / 2, len(spectrum))
    level = 10 * np.log10(spectrum + 1e-20)
    best_drop, best_edge = 0.0, rate / 2
    for edge in np.geomspace(500, 0.95 * rate / 2, 200):
        below = level[(freqs > 0.85 * edge) & (freqs < 0.98 * edge)]
        above = level[(freqs > 1.03 * edge) & (freqs < 0.98 * rate / 2)]
        if len(below) < 2 or len(above) < 2:
            continue
        drop = float(np.median(below) - np.percentile(above, 90))
        if drop > best_drop:
            best_drop, best_edge = drop, float(edge)
    return best_edge if best_drop >= EDGE_DROP_DB else rate / 2


FLOOR_MARGIN_DB = 10.0  # a bin within this of the spectrum's floor is at the floor
TOP_FRACTION = 0.47  # a floor reached above this share of the rate is the file's own Nyquist
_SMOOTH_BINS = 9


def stopband_edge(spectrum: np.ndarray, rate: int) -> float | None:
    """Where a long-term spectrum falls to its floor and stays there, in Hz; None if it
    never does below TOP_FRACTION of the rate, or falls there gradually.

    A resampler's filter ends its transition band, and reaches its stopband, near the
    source's Nyquist frequency whatever its passband (soxr's HQ passband ends at 0.91 of
    it, FFmpeg's and libsamplerate's later): the floor, not the passband end, marks the
    source rate (benchmarks/stopband.py measures where it lands for each resampler)."""
    level = 10 * np.log10(
        np.convolve(spectrum, np.ones(_SMOOTH_BINS) / _SMOOTH_BINS, "same") + 1e-20
    )
    freqs = np.linspace(0, rate / 2, len(spectrum))
    floor = float(np.percentile(level, 2))
    loud = np.flatnonzero(level > floor + FLOOR_MARGIN_DB)
    if not len(loud):
        return None
    edge = float(freqs[min(loud[-1] + 1, len(freqs) - 1)])
    if edge > TOP_FRACTION * rate:
        return None
    passband = level[(freqs > 0.8 * edge) & (freqs < 0.9 * edge)]
    if not len(passband) or float(np.median(passband)) - floor < EDGE_DROP_DB:
        return None
    return edge


# edge / a standard rate's Nyquist that counts as that rate's stopband (benchmarks/stopband.py)
EDGE_BAND = (0.95, 1.02)


def edge_rates(edge: float) -> tuple[int, ...]:
    """The standard rates a stopband edge at `edge` Hz points to (none, one, rarely two)."""
    low, high = EDGE_BAND
    return tuple(r for r in STANDARD_RATES if low <= edge / (r / 2) <= high)


def nearest_standard_rate(bandwidth: float) -> int:
    """The standard rate whose Nyquist frequency is nearest a measured cut."""
    return min(STANDARD_RATES, key=lambda rate: abs(np.log(rate / 2 / bandwidth)))
