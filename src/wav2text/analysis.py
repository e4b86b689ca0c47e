"""What an input holds and what transcribe would do with it: levels, bandwidth, channels, plan.

One pass over the decoded blocks, memory bounded by the block size: per-channel level
statistics, the long-term spectrum of the audible frames (for the effective bandwidth),
and how far each channel is from the first (for near-identical channels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .audio import DecodedAudio, Source, downmix_note, open_audio
from .options import TranscribeOptions
from .results import AudioInfo

SILENT_FRAME_DBFS = -50.0  # a frame quieter than this counts as silence
CLIP_LEVEL = 0.999
SAME_CHANNEL_DB = -40.0  # difference energy below this (relative) = the same signal
EDGE_DROP_DB = 30.0  # a brick-wall cut: this much lower just above the edge than below it
_FFT = 2048


@dataclass(frozen=True)
class Analysis:
    container: str | None
    codec: str | None
    rate: int
    rate_source: str
    channels: int
    duration: float
    peak_dbfs: float
    rms_dbfs: float
    clipped_share: float
    dc_offset: float
    silence_share: float
    bandwidth_hz: float | None  # where content stops; None when nothing is audible
    identical_channels: bool | None  # None for mono
    steps: str  # what transcribe does, as in Transcript.audio.steps()
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyse(
    source: Source, options: TranscribeOptions | None = None, model_rate: int = 16000
) -> Analysis:
    options = options or TranscribeOptions()
    audio = open_audio(
        source,
        sample_rate=options.sample_rate,
        raw=options.raw,
        stream_index=options.stream_index,
        allow_truncated=options.allow_truncated,
    )
    meter = _Meter(audio.channels, audio.rate)
    for block in audio.blocks:
        meter.add(block)
    return _summary(audio, meter, options, model_rate)


def _db(power: float) -> float:
    return float(10 * np.log10(max(power, 1e-20)))


class _Meter:
    def __init__(self, channels: int, rate: int) -> None:
        self.rate = rate
        self.count = 0
        self.peak = np.zeros(channels)
        self.power = np.zeros(channels)
        self.total = np.zeros(channels)
        self.clipped = 0
        self.difference = np.zeros(channels)  # energy of (channel - channel 0)
        self.spectrum = np.zeros(_FFT // 2 + 1)
        self.frames = self.audible = 0
        self._carry = np.zeros(0, dtype=np.float32)
        self._window = np.hanning(_FFT)

    def add(self, block: np.ndarray) -> None:
        block = block.astype(np.float64)
        self.count += len(block)
        self.peak = np.maximum(self.peak, np.abs(block).max(axis=0, initial=0.0))
        self.power += (block**2).sum(axis=0)
        self.total += block.sum(axis=0)
        self.clipped += int((np.abs(block) >= CLIP_LEVEL).sum())
        self.difference += ((block - block[:, :1]) ** 2).sum(axis=0)
        self._spectral(np.concatenate([self._carry, block.mean(axis=1)]))

    def _spectral(self, mono: np.ndarray) -> None:
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
    meter = _Meter(1, 1)
    meter.add(mono.reshape(-1, 1))
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


def _summary(
    audio: DecodedAudio, meter: _Meter, options: TranscribeOptions, model_rate: int
) -> Analysis:
    n = max(meter.count, 1)
    bandwidth = effective_bandwidth(meter.spectrum, audio.rate) if meter.audible else None
    identical = None
    if audio.channels > 1:
        reference = meter.power[0] + 1e-20
        identical = bool(all(_db(d / reference) < SAME_CHANNEL_DB for d in meter.difference[1:]))
    return Analysis(
        container=audio.container,
        codec=audio.codec,
        rate=audio.rate,
        rate_source=audio.rate_source,
        channels=audio.channels,
        duration=meter.count / audio.rate,
        peak_dbfs=_db(float(meter.peak.max(initial=0.0)) ** 2),
        rms_dbfs=_db(float(meter.power.sum()) / (n * audio.channels)),
        clipped_share=meter.clipped / (n * audio.channels),
        dc_offset=float(meter.total.mean()) / n,
        silence_share=1 - meter.audible / meter.frames if meter.frames else 1.0,
        bandwidth_hz=bandwidth,
        identical_channels=identical,
        steps=AudioInfo(
            source_rate=audio.rate,
            rate_source=audio.rate_source,
            channels=audio.channels,
            codec=audio.codec,
            container=audio.container,
            model_rate=model_rate,
            resampled=audio.rate != model_rate,
            downmix=downmix_note(audio.channels, options.channel),
            duration=meter.count / audio.rate,
        ).steps(),
        notes=_notes(audio, meter, bandwidth, identical),
    )


STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


def _source_rate(bandwidth: float) -> int:
    """The standard rate whose Nyquist frequency is nearest the measured cut."""
    return min(STANDARD_RATES, key=lambda rate: abs(np.log(rate / 2 / bandwidth)))


def _notes(
    audio: DecodedAudio, meter: _Meter, bandwidth: float | None, identical: bool | None
) -> tuple[str, ...]:
    notes = []
    if bandwidth is not None and bandwidth < 0.9 * audio.rate / 2:
        notes.append(
            f"content stops at {bandwidth / 1000:.1f} kHz of the {audio.rate / 2000:.1f} kHz "
            f"possible: upsampled from {_source_rate(bandwidth)} Hz audio or low-passed by a "
            "lossy codec"
        )
    if meter.clipped:
        notes.append(f"{meter.clipped} clipped samples: the recording was overdriven")
    if identical:
        notes.append("all channels carry the same signal (mono stored as multichannel)")
    if not meter.audible:
        notes.append(f"no frame louder than {SILENT_FRAME_DBFS:.0f} dBFS: nothing to transcribe")
    return tuple(notes)


def describe(result: Analysis) -> str:
    """Human-readable lines, as `wav2text inspect` prints them."""
    lines = [
        f"  format     {result.container}/{result.codec}, {result.rate} Hz "
        f"({result.rate_source}), {result.channels} channel(s), {result.duration:.2f} s",
        f"  level      peak {result.peak_dbfs:.1f} dBFS, RMS {result.rms_dbfs:.1f} dBFS, "
        f"DC offset {result.dc_offset:+.4f}, clipped {100 * result.clipped_share:.3f} %",
        f"  silence    {100 * result.silence_share:.0f} % of the time",
    ]
    if result.bandwidth_hz is not None:
        full = " (full band)" if result.bandwidth_hz >= result.rate / 2 else ""
        lines.append(f"  bandwidth  {result.bandwidth_hz / 1000:.1f} kHz{full}")
    if result.identical_channels is not None:
        same = "identical" if result.identical_channels else "different"
        lines.append(f"  channels   {same}")
    lines.append(f"  transcribe {result.steps}")
    lines += [f"  note       {note}" for note in result.notes]
    return "\n".join(lines)
