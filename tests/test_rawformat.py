"""--raw auto: the sample format of headerless PCM, told from its bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from training.real import REAL_DIR

from conftest import Pipe, need_tool
from wav2text import InvalidAudioError, RawFormat, TranscribeOptions, Transcriber
from wav2text.rawformat import HEAD_BYTES, detect_channels, detect_raw_format, smoothness

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


def interleaved(left: np.ndarray, right: np.ndarray) -> bytes:
    n = min(len(left), len(right))
    return np.stack([left[:n], right[:n]], 1).astype("<i2").tobytes()


@pytest.mark.parametrize("clip", REAL)
def test_mono_and_stereo_are_told_from_the_bytes(clip: str) -> None:
    """Mono, two identical channels, and two different speakers, read as s16le."""
    mono = np.frombuffer(raw_bytes(REAL_DIR / clip, "s16le"), "<i2")
    other = np.frombuffer(raw_bytes(REAL_DIR / REAL[(REAL.index(clip) + 1) % 3], "s16le"), "<i2")
    assert detect_channels(mono.tobytes()[:HEAD_BYTES], "s16le") == 1
    assert detect_channels(interleaved(mono, mono)[:HEAD_BYTES], "s16le") == 2
    assert detect_channels(interleaved(mono, other)[:HEAD_BYTES], "s16le") == 2


def test_raw_auto_reads_16_bit_stereo_as_stereo(tiny: Transcriber, speech_wav: Path) -> None:
    mono = np.frombuffer(raw_bytes(speech_wav, "s16le"), "<i2")
    stereo = interleaved(mono, mono[::-1])
    auto = TranscribeOptions(raw=RawFormat("auto"), sample_rate=16000)
    assert tiny.transcribe(stereo, auto).audio.channels == 2
    assert tiny.transcribe(mono.tobytes(), auto).audio.channels == 1
    # the negative control: told it is one channel, the same bytes read as 32-bit mono (the
    # reading that looks smoothest for one channel): the wrong samples, which detection avoids
    forced = TranscribeOptions(raw=RawFormat("auto", channels=1), sample_rate=16000)
    assert tiny.transcribe(stereo, forced).audio.codec == "pcm_s32le"
    assert tiny.transcribe(stereo, auto).audio.codec == "pcm_s16le"
