"""--raw auto: the sample format of headerless PCM, told from its bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from training.real import REAL_DIR

from conftest import Pipe, need_tool
from wav2text import InvalidAudioError, RawFormat, TranscribeOptions, Transcriber
from wav2text.rawformat import HEAD_BYTES, detect_raw_format, smoothness

FORMATS = ["u8", "s8", "s16le", "s16be", "s24le", "s24be", "s32le", "s32be",
           "f32le", "f32be", "f64le", "f64be", "mulaw", "alaw"]  # fmt: skip


def raw_bytes(path: Path, fmt: str, rate: int = 16000) -> bytes:
    need_tool("ffmpeg")
    command = ["ffmpeg", "-loglevel", "error", "-i", str(path), "-ac", "1", "-ar", str(rate),
               "-f", fmt, "-"]  # fmt: skip
    return subprocess.run(command, capture_output=True, check=True).stdout


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rate", [8000, 44100])
def test_every_format_is_recognised(speech_wav: Path, fmt: str, rate: int) -> None:
    assert detect_raw_format(raw_bytes(speech_wav, fmt, rate)[:HEAD_BYTES]) == fmt


REAL = ["librivox_sense_0870.wav", "arctic_axb_a0004.wav", "vctk_p286_011_48k.wav"]


@pytest.mark.parametrize("clip", REAL)
@pytest.mark.parametrize("fmt", ["s16le", "s16be", "s32le", "f32le", "u8", "mulaw", "alaw"])
def test_real_recordings(clip: str, fmt: str) -> None:
    assert detect_raw_format(raw_bytes(REAL_DIR / clip, fmt)[:HEAD_BYTES]) == fmt


def test_noise_is_refused() -> None:
    noise = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    with pytest.raises(InvalidAudioError, match="could not tell the raw sample format"):
        detect_raw_format(noise)


def test_negative_control_wrong_readings_are_not_smooth(speech_wav: Path) -> None:
    """What a guessed format does: byte-swapped or offset readings are noise."""
    data = raw_bytes(speech_wav, "s16le")[:HEAD_BYTES]
    assert smoothness(data, "s16le") > 0.8
    assert smoothness(data, "s16be") < 0.3 and smoothness(data, "u8") < 0.3


def test_transcribe_with_raw_auto_from_a_pipe(tiny: Transcriber, speech_wav: Path) -> None:
    data = raw_bytes(speech_wav, "s16be")

    auto = tiny.transcribe(Pipe(data), TranscribeOptions(raw=RawFormat("auto"), sample_rate=16000))
    known = tiny.transcribe(data, TranscribeOptions(raw=RawFormat("s16be"), sample_rate=16000))
    assert auto.audio.codec == "pcm_s16be" and auto.text == known.text
    assert auto.duration == known.duration
