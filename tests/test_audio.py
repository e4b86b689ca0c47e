"""Input handling: array layouts, integer scaling, raw PCM, containers, the rate policy."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soxr
import torch

from conftest import ffmpeg, tone
from wav2text.audio import open_audio, to_mono
from wav2text.errors import (
    InvalidAudioError,
    InvalidSampleRateError,
    OptionsError,
    UnknownSampleRateError,
)
from wav2text.options import RawFormat
from wav2text.rate import resample_stream


def mono(source: object, **kw: object) -> np.ndarray:
    audio = open_audio(source, **kw)  # type: ignore[arg-type]
    return np.concatenate(list(to_mono(audio)))


def test_channel_axis_rule_both_layouts() -> None:
    left, right = tone(1, 16000, 300), tone(1, 16000, 500)
    expected = (left + right) / 2
    np.testing.assert_allclose(mono(np.stack([left, right]), sample_rate=16000), expected)
    np.testing.assert_allclose(mono(np.stack([left, right], 1), sample_rate=16000), expected)
    six = np.stack([left] * 6)
    assert open_audio(six, sample_rate=16000).channels == 6
    assert open_audio(six.T, sample_rate=16000).channels == 6


@pytest.mark.parametrize("shape", [(2, 2), (40, 50), (1, 2, 100)])
def test_ambiguous_or_high_rank_arrays_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidAudioError, match="shape"):
        open_audio(np.zeros(shape, np.float32), sample_rate=16000)


@pytest.mark.parametrize(
    ("dtype", "full_scale"),
    [(np.int16, 32767), (np.int32, 2**31 - 1), (np.int8, 127)],
)
def test_integer_pcm_is_scaled(dtype: type, full_scale: int) -> None:
    x = np.round(tone(0.1, 16000).astype(np.float64) * 2 * full_scale).astype(dtype)  # full scale
    peak = full_scale / (full_scale + 1)  # integer full scale is one step short of 1.0
    assert np.abs(mono(x, sample_rate=16000)).max() == pytest.approx(peak, abs=1e-4)


def test_uint8_is_offset_binary() -> None:
    x = np.array([0, 128, 255], np.uint8)
    np.testing.assert_allclose(mono(x, sample_rate=16000), [-1.0, 0.0, 127 / 128])


def test_floats_are_taken_as_is_and_tensors_work() -> None:
    x = tone(0.5, 16000) * 0.25
    np.testing.assert_array_equal(mono(x, sample_rate=16000), x)
    t = torch.from_numpy(np.stack([x, x])).to(torch.bfloat16)
    assert mono(t, sample_rate=16000).shape == x.shape


@pytest.mark.parametrize("bad", [np.array([True, False]), np.array([1 + 2j, 3j])])
def test_non_audio_dtypes_rejected(bad: np.ndarray) -> None:
    with pytest.raises(InvalidAudioError, match="dtype"):
        open_audio(bad, sample_rate=16000)


def test_array_without_rate_says_how_to_give_it() -> None:
    with pytest.raises(UnknownSampleRateError, match="sample_rate="):
        open_audio(tone(1, 16000))


def test_raw_without_rate_says_how_to_give_it() -> None:
    with pytest.raises(UnknownSampleRateError, match="sample_rate=RATE"):
        open_audio(b"\x00\x01" * 100, raw=RawFormat("s16le"))


@pytest.mark.parametrize("rate", [0, -16000, 12, 10_000_000, 16000.5, "16000", True])
def test_implausible_rates_rejected(rate: object) -> None:
    with pytest.raises(InvalidSampleRateError):
        open_audio(tone(1, 16000), sample_rate=rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "dtype"),
    [("s16le", "<i2"), ("s16be", ">i2"), ("s32le", "<i4"), ("f32le", "<f4"), ("u8", "u1")],
)
def test_raw_pcm_formats(fmt: str, dtype: str) -> None:
    x = tone(0.5, 8000, amp=0.5)
    kind = np.dtype(dtype)
    if kind.kind == "f":
        encoded = x.astype(kind)
    elif kind.kind == "u":
        encoded = np.round(x * 127 + 128).astype(kind)
    else:
        encoded = np.round(x * (2 ** (8 * kind.itemsize - 1) - 1)).astype(kind)
    decoded = mono(encoded.tobytes(), raw=RawFormat(fmt), sample_rate=8000)
    np.testing.assert_allclose(decoded, x, atol=1e-2)


def test_raw_interleaved_stereo_and_mulaw() -> None:
    x = tone(0.5, 8000, amp=0.5)
    stereo = np.stack([x, -x], 1)
    raw = (stereo * 32767).astype("<i2").tobytes()
    audio = open_audio(raw, raw=RawFormat("s16le", 2), sample_rate=8000)
    assert audio.channels == 2
    block = np.concatenate(list(audio.blocks))
    np.testing.assert_allclose(block[:, 1], -x, atol=1e-3)
    mulaw = open_audio(bytes(range(256)) * 10, raw=RawFormat("mulaw"), sample_rate=8000)
    assert mulaw.codec == "pcm_mulaw"


def test_channel_pick_and_bad_channel() -> None:
    left, right = tone(0.5, 16000, 300), tone(0.5, 16000, 500)
    audio = open_audio(np.stack([left, right]), sample_rate=16000)
    np.testing.assert_array_equal(np.concatenate(list(to_mono(audio, channel=1))), right)
    with pytest.raises(OptionsError, match=r"numbered 0\.\.1"):
        list(to_mono(open_audio(np.stack([left, right]), sample_rate=16000), channel=2))


def test_file_object_and_bytes_match_path(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-ar", "22050", str(path))
    from_path = mono(path)
    np.testing.assert_array_equal(mono(path.read_bytes()), from_path)
    np.testing.assert_array_equal(mono(io.BytesIO(path.read_bytes())), from_path)
    with tempfile.SpooledTemporaryFile() as spooled:  # mode "w+b": read it, do not write
        spooled.write(path.read_bytes())
        spooled.seek(0)
        np.testing.assert_array_equal(mono(spooled), from_path)


def test_second_audio_stream_can_be_chosen(tmp_path: Path) -> None:
    path = tmp_path / "two.mka"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=3000:duration=1",
        "-map",
        "0",
        "-map",
        "1",
        "-c:a",
        "flac",
        str(path),
    )
    for index, freq in [(0, 300), (1, 3000)]:
        x = mono(path, stream_index=index)
        peak = np.argmax(np.abs(np.fft.rfft(x))) * open_audio(path).rate / len(x)
        assert peak == pytest.approx(freq, rel=0.02)


def test_streaming_resample_matches_one_shot() -> None:
    x = np.random.default_rng(0).normal(0, 0.2, 44100 * 3).astype(np.float32)
    blocks = [x[i : i + 10_000] for i in range(0, len(x), 10_000)]
    streamed = np.concatenate(list(resample_stream(blocks, 44100, 16000)))
    whole = soxr.resample(x, 44100, 16000, quality="HQ")
    assert abs(len(streamed) - len(whole)) <= 1
    n = min(len(streamed), len(whole))
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000])
def test_resampling_keeps_pitch_and_length(rate: int) -> None:
    x = tone(2.0, rate, 1000)
    y = np.concatenate(list(resample_stream([x], rate, 16000)))
    assert len(y) == pytest.approx(32000, abs=2)
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * 16000 / len(y)
    assert peak_hz == pytest.approx(1000, abs=2)
