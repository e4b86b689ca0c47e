"""What an input holds and what transcribe would do with it: levels, bandwidth, channels, plan.

One pass over the decoded blocks, memory bounded by the block size: per-channel level
statistics, the long-term spectrum of the audible frames (for the effective bandwidth),
and how far each channel is from the first (for near-identical channels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .audio import DecodedAudio, Source, audio_info, check_channel, open_with
from .channels import SAME_DB
from .errors import Fix, UnknownSampleRateError
from .estimation.decide import decide_rate
from .estimation.estimator import RateCheck
from .estimation.spectrum import (
    SILENT_FRAME_DBFS,
    SpectrumMeter,
    effective_bandwidth,
    nearest_standard_rate,
)
from .model import CTCModel
from .options import TranscribeOptions

CLIP_LEVEL = 0.999


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
    likely_rate: int | None = None  # when the model hears the header's rate as wrong

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyse(
    source: Source,
    options: TranscribeOptions | None = None,
    model_rate: int = 16000,
    model: CTCModel | None = None,
) -> Analysis:
    """Measure an input in one pass; with a model, also test its header's rate (or
    estimate an unknown one, for sample_rate="auto")."""
    options = options or TranscribeOptions()
    audio = open_with(source, options)
    check_channel(audio, options.channel)
    check = None
    if model is not None:
        decided = decide_rate(audio, model, replace(options, check_rate=True))
        audio, check = decided.audio, decided.check
        model_rate = model.sampling_rate
    elif audio.rate is None:
        raise UnknownSampleRateError(
            "telling an unknown rate needs the model",
            Fix(
                "pass a model (analyse(source, model=...)), or transcribe with sample_rate='auto'",
                "add --check-rate [-m MODEL], or transcribe with --sample-rate auto",
                "send sample_rate=auto",
            ),
        )
    meter = _Meter(audio.channels)
    for block in audio.blocks:
        meter.add(block)
    summary = _summary(audio, meter, options, model_rate)
    return replace(
        summary,
        likely_rate=check.likely if check and check.mislabelled else None,
        notes=_notes(summary, meter.clipped, check),
    )


def _db(power: float) -> float:
    return float(10 * np.log10(max(power, 1e-20)))


class _Meter:
    """Per-channel level statistics and the spectrum of the mix, block by block."""

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.peak = np.zeros(channels)
        self.power = np.zeros(channels)
        self.total = np.zeros(channels)
        self.clipped = 0
        self.difference = np.zeros(channels)  # energy of (channel - channel 0)
        self.spectral = SpectrumMeter()

    def add(self, block: np.ndarray) -> None:
        block = block.astype(np.float64)
        self.count += len(block)
        self.peak = np.maximum(self.peak, np.abs(block).max(axis=0, initial=0.0))
        self.power += (block**2).sum(axis=0)
        self.total += block.sum(axis=0)
        self.clipped += int((np.abs(block) >= CLIP_LEVEL).sum())
        self.difference += ((block - block[:, :1]) ** 2).sum(axis=0)
        self.spectral.add(block.mean(axis=1))


def _summary(
    audio: DecodedAudio, meter: _Meter, options: TranscribeOptions, model_rate: int
) -> Analysis:
    assert audio.rate is not None and audio.rate_source is not None
    n = max(meter.count, 1)
    duration = meter.count / audio.rate
    spectral = meter.spectral
    bandwidth = effective_bandwidth(spectral.spectrum, audio.rate) if spectral.audible else None
    identical = None
    if audio.channels > 1:
        reference = meter.power[0] + 1e-20
        identical = bool(all(_db(d / reference) < SAME_DB for d in meter.difference[1:]))
    return Analysis(
        container=audio.container,
        codec=audio.codec,
        rate=audio.rate,
        rate_source=audio.rate_source,
        channels=audio.channels,
        duration=duration,
        peak_dbfs=_db(float(meter.peak.max(initial=0.0)) ** 2),
        rms_dbfs=_db(float(meter.power.sum()) / (n * audio.channels)),
        clipped_share=meter.clipped / (n * audio.channels),
        dc_offset=float(meter.total.mean()) / n,
        silence_share=1 - spectral.audible / spectral.frames if spectral.frames else 1.0,
        bandwidth_hz=bandwidth,
        identical_channels=identical,
        steps=audio_info(audio, options.channel, model_rate, duration).steps(),
        notes=(),
    )


def _notes(result: Analysis, clipped: int, check: RateCheck | None) -> tuple[str, ...]:
    notes = []
    bandwidth = result.bandwidth_hz
    if bandwidth is not None and bandwidth < 0.9 * result.rate / 2:
        notes.append(
            f"content stops at {bandwidth / 1000:.1f} kHz of the {result.rate / 2000:.1f} kHz "
            f"possible: upsampled from {nearest_standard_rate(bandwidth)} Hz audio or "
            "low-passed by a lossy codec"
        )
    if clipped:
        notes.append(f"{clipped} clipped samples: the recording was overdriven")
    if result.identical_channels:
        notes.append("all channels carry the same signal (mono stored as multichannel)")
    if bandwidth is None:
        notes.append(f"no frame louder than {SILENT_FRAME_DBFS:.0f} dBFS: nothing to transcribe")
    warning = check.warning() if check else None
    if warning:
        notes.append(warning)
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
