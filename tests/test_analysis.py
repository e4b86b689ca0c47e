"""`wav2text inspect`: levels, bandwidth, channels and the plan, on audio built to show each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soxr

from conftest import noisy_tone, tone
from wav2text import TranscribeOptions
from wav2text.analysis import analyse
from wav2text.estimation.spectrum import effective_bandwidth

AT = TranscribeOptions(sample_rate=44100)


def band_limited_noise(seconds: float, rate: int, source_rate: int) -> np.ndarray:
    """Full-band noise made at source_rate, resampled to rate: content stops at source_rate/2."""
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(int(seconds * source_rate)) * 0.1).astype(np.float32)
    return soxr.resample(noise, source_rate, rate, quality="HQ").astype(np.float32)


@pytest.mark.parametrize("source_rate", [8000, 16000, 22050])
def test_upsampled_audio_shows_its_original_band(source_rate: int) -> None:
    result = analyse(band_limited_noise(3, 44100, source_rate), AT)
    assert result.bandwidth_hz == pytest.approx(source_rate / 2, rel=0.08)
    assert any(f"upsampled from {source_rate} Hz" in note for note in result.notes)


def test_full_band_audio_has_no_edge() -> None:
    """Negative control: native-rate noise and speech-like roll-off are not a cut."""
    result = analyse(band_limited_noise(3, 44100, 44100), AT)
    assert result.bandwidth_hz == 22050 and not result.notes
    rng = np.random.default_rng(2)
    spectrum = 1 / (1 + np.linspace(0, 50, 1025) ** 2) + rng.random(1025) * 1e-4
    assert effective_bandwidth(spectrum, 44100) == 22050


def test_levels_clipping_dc_and_silence() -> None:
    rate = 16000
    clipped = np.clip(tone(1, rate, amp=1.5), -1, 1)
    audio = np.concatenate([clipped + 0.0, np.zeros(rate, dtype=np.float32)])
    result = analyse(audio, TranscribeOptions(sample_rate=rate))
    assert result.peak_dbfs == pytest.approx(0, abs=0.01)
    assert result.clipped_share > 0.1 and any("clipped" in n for n in result.notes)
    assert result.silence_share == pytest.approx(0.5, abs=0.1)
    shifted = analyse(tone(1, rate, amp=0.1) + 0.2, TranscribeOptions(sample_rate=rate))
    assert shifted.dc_offset == pytest.approx(0.2, abs=1e-3) and shifted.clipped_share == 0


def test_identical_and_different_channels() -> None:
    left = noisy_tone(2, 16000)
    same = analyse(np.stack([left, left], axis=1), TranscribeOptions(sample_rate=16000))
    other = noisy_tone(2, 16000, seed=5)
    different = analyse(np.stack([left, other], axis=1), TranscribeOptions(sample_rate=16000))
    assert same.identical_channels is True and different.identical_channels is False
    assert analyse(left, TranscribeOptions(sample_rate=16000)).identical_channels is None


def test_steps_are_what_transcribe_reports(tiny, speech_wav: Path) -> None:  # type: ignore[no-untyped-def]
    assert analyse(speech_wav).steps == tiny.transcribe(speech_wav).audio.steps()


def test_inspect_command_json(speech_wav: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "wav2text", "inspect", "--json", str(speech_wav)],
        capture_output=True,
        text=True,
        check=True,
    )
    facts = json.loads(run.stdout)
    assert facts["rate"] == 22050 and facts["channels"] == 1
    assert facts["steps"].endswith("resample 22050->16000 Hz")


def test_inspect_command_bad_file_fails_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    run = subprocess.run(
        [sys.executable, "-m", "wav2text", "inspect", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 1 and "bad.wav" in run.stderr and "Traceback" not in run.stderr
