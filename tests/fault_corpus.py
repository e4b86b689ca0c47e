"""A corpus of bad inputs, generated: the files a fault campaign throws at wav2text, and the
library-only values (arrays, tensors, objects). Every kind must end in a transcript or in
one of wav2text's own errors, never another exception, a hang or a blow-up in memory.

    python tests/fault_corpus.py DIR      # write the file kinds into DIR, one file each
"""

from __future__ import annotations

import io
import math
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

RATE = 16000


def wav_bytes(
    samples: np.ndarray, rate: int = RATE, channels: int = 1, bits: int = 16, fmt: int = 1
) -> bytes:
    """A RIFF/WAVE file of `samples` (already in the sample type), header by hand."""
    data = samples.tobytes()
    block = channels * bits // 8
    header = struct.pack("<4sIHHIIHH", b"fmt ", 16, fmt, channels, rate, rate * block, block, bits)
    body = header + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 1700 * t)).astype(
        np.float32
    )


def _s16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1, 1) * 32767).astype("<i2")


def _with_rate(data: bytes, rate: int) -> bytes:
    return data[:24] + struct.pack("<I", rate) + data[28:]


def _with_data_size(data: bytes, size: int) -> bytes:
    at = data.index(b"data") + 4
    return data[:at] + struct.pack("<I", size) + data[at + 4 :]


def _flip(data: bytes, share: float, count: int = 64) -> bytes:
    """`count` bytes inverted from `share` of the way in: damage inside the stream."""
    at = int(len(data) * share)
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + count]) + data[at + count :]


def _zeroed(data: bytes) -> bytes:
    """The middle third of the bytes zeroed: a hole in the stream."""
    third = len(data) // 3
    return data[:third] + bytes(third) + data[2 * third :]


def _encoded(tone_wav: bytes, args: list[str], suffix: str, folder: Path) -> bytes:
    source, target = folder / "_src.wav", folder / f"_enc{suffix}"
    source.write_bytes(tone_wav)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *args, str(target)],
                   check=True)  # fmt: skip
    return target.read_bytes()


def file_kinds(folder: Path) -> Iterator[tuple[str, bytes]]:
    """(name with its suffix, the file's bytes) for every bad-file kind."""
    good = wav_bytes(_s16(_tone(2.0)))
    yield "empty.wav", b""
    yield "one_byte.wav", b"\x00"
    for size in (10, 1000, 100_000):
        yield f"random_{size}.wav", np.random.default_rng(size).bytes(size)
    yield "text.wav", b"this is not audio\n" * 100
    yield "json.mp3", b'{"audio": "none"}'
    yield "png.flac", b"\x89PNG\r\n\x1a\n" + bytes(1000)
    yield "zip.m4a", b"PK\x03\x04" + bytes(1000)
    yield "pdf.ogg", b"%PDF-1.4\n" + bytes(1000)
    yield "html.webm", b"<html><body>no</body></html>"
    yield "riff_not_wave.wav", b"RIFF" + struct.pack("<I", 100) + b"AVI " + bytes(100)
    yield "header_only.wav", good[:44]
    yield "header_cut.wav", good[:30]
    yield "data_longer_than_file.wav", _with_data_size(good, len(good) * 3)
    yield "data_size_streamed.wav", _with_data_size(good, 0xFFFFFFFF)
    yield "data_size_zero.wav", _with_data_size(good, 0)
    for rate in (1, 999, 800_000, 0):
        yield f"rate_{rate}.wav", _with_rate(good, rate)
    yield "zero_samples.wav", wav_bytes(np.zeros(0, "<i2"))
    yield "one_sample.wav", wav_bytes(np.zeros(1, "<i2"))
    yield "too_short_100.wav", wav_bytes(_s16(_tone(0.006)))
    yield "silence.wav", wav_bytes(np.zeros(RATE, "<i2"))
    yield "dc_offset.wav", wav_bytes(np.full(RATE, 20000, "<i2"))
    yield "clipped_square.wav", wav_bytes(_s16(np.sign(_tone(1.0)) * 2))
    yield "nan_float.wav", wav_bytes(np.full(RATE, np.nan, "<f4"), bits=32, fmt=3)
    yield "inf_float.wav", wav_bytes(np.full(RATE, np.inf, "<f4"), bits=32, fmt=3)
    yield "huge_float.wav", wav_bytes(np.full(RATE, 1e30, "<f4"), bits=32, fmt=3)
    yield "float64.wav", wav_bytes(_tone(1.0).astype("<f8"), bits=64, fmt=3)
    yield "u8.wav", wav_bytes(((_tone(1.0) + 1) * 127).astype(np.uint8), bits=8)
    yield "s32.wav", wav_bytes((_tone(1.0) * 2**30).astype("<i4"), bits=32)
    yield "six_channels.wav", wav_bytes(np.repeat(_s16(_tone(1.0)), 6), channels=6)
    yield "odd_channel_bytes.wav", wav_bytes(_s16(_tone(1.0)), channels=3)[:-1]
    for rate in (8000, 96000, 192000, 384000):
        yield f"rate_ok_{rate}.wav", wav_bytes(_s16(_tone(1.0, rate)), rate=rate)
    yield "bad_format_code.wav", wav_bytes(_s16(_tone(1.0)), fmt=0x7777)
    yield "bad_bits.wav", wav_bytes(_s16(_tone(1.0)), bits=13)
    yield "id3_only.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(16)
    encodings = {
        "mp3": ["-c:a", "libmp3lame"],
        "flac": [],
        "ogg": ["-c:a", "libvorbis"],
        "opus": ["-c:a", "libopus"],
        "m4a": ["-c:a", "aac"],
        "webm": ["-c:a", "libopus"],
    }
    for suffix, args in encodings.items():
        data = _encoded(good, args, f".{suffix}", folder)
        for share in (0.1, 0.5, 0.9):
            yield f"{suffix}_cut_{int(share * 100)}.{suffix}", data[: int(len(data) * share)]
        for share in (0.99, 0.02):
            yield f"{suffix}_cut_{share}.{suffix}", data[: int(len(data) * share)]
        for share in (0.05, 0.5, 0.9):
            yield f"{suffix}_damaged_{int(share * 100)}.{suffix}", _flip(data, share)
        yield f"{suffix}_zeroed_middle.{suffix}", _zeroed(data)
        yield f"{suffix}_as_wav.wav", data  # the wrong suffix
        yield f"wav_body_after_{suffix}_header.{suffix}", data[:64] + good[44:]
    video = folder / "_video.webm"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=1:size=32x32:rate=5", "-c:v", "libvpx", str(video)],
                   check=True)  # fmt: skip
    yield "video_without_sound.webm", video.read_bytes()
    yield "video_cut.webm", video.read_bytes()[:500]


def library_kinds() -> Iterator[tuple[str, Callable[[], Any], dict[str, Any]]]:
    """(name, a maker of the value, TranscribeOptions fields) for values only the library
    takes: arrays, tensors and other objects."""
    import torch

    tone = _tone(1.0)
    arrays = {
        "int64": tone.astype(np.int64),
        "complex": tone.astype(np.complex64),
        "bool": tone > 0,
        "object": np.array(["a", "b"], dtype=object),
        "float16": tone.astype(np.float16),
        "uint16": (tone * 1000).astype(np.uint16),
        "empty": np.zeros(0, np.float32),
        "one": np.zeros(1, np.float32),
        "square": np.zeros((2, 2), np.float32),
        "cube": np.zeros((3, 3, 3), np.float32),
        "wide": np.zeros((33, 40000), np.float32),
        "no_channels": np.zeros((0, 1000)),
        "no_samples": np.zeros((20000, 0)),
        "nan": np.full(RATE, np.nan, np.float32),
        "inf": np.full(RATE, np.inf, np.float32),
        "huge": np.full(RATE, 1e30, np.float32),
        "silence": np.zeros(RATE, np.float32),
        "stereo_rows": np.stack([tone, tone]),
        "stereo_columns": np.stack([tone, tone], 1),
        "int16": _s16(tone),
    }
    for name, array in arrays.items():
        yield f"array_{name}", lambda a=array: a, {"sample_rate": RATE}
    yield "array_without_rate", lambda: tone, {}
    tensors = {
        "bf16": lambda: torch.tensor(tone).bfloat16(),
        "int16": lambda: torch.tensor(_s16(tone)),
        "meta": lambda: torch.empty(RATE, device="meta"),
        "grad": lambda: torch.tensor(tone, requires_grad=True),
        "3d": lambda: torch.zeros(1, 2, RATE),
        "empty": lambda: torch.zeros(0),
    }
    for name, make in tensors.items():
        yield f"tensor_{name}", make, {"sample_rate": RATE}
    others: dict[str, Callable[[], Any]] = {
        "none": lambda: None,
        "int": lambda: 42,
        "list": lambda: [0.0] * 100,
        "dict": lambda: {"audio": 1},
        "generator": lambda: (x for x in range(3)),
        "missing_path": lambda: "/nonexistent/a.wav",
        "directory": lambda: "/tmp",
        "device": lambda: "/dev/zero",
        "empty_bytes": lambda: b"",
        "empty_stream": lambda: io.BytesIO(),
        "text_stream": lambda: io.StringIO("RIFF"),
        "closed_stream": _closed,
        "memoryview": lambda: memoryview(wav_bytes(_s16(tone))),
        "bytearray": lambda: bytearray(b"\x00" * 10),
        "path_object_missing": lambda: Path("/nonexistent/b.flac"),
        "float": lambda: 3.14,
        "set": lambda: {1, 2},
        "bytes_noise": lambda: np.random.default_rng(1).bytes(5000),
        "stream_noise": lambda: io.BytesIO(np.random.default_rng(2).bytes(5000)),
        "array_list_of_arrays": lambda: [tone, tone],
        "torch_complex": lambda: __import__("torch").tensor(tone).to(__import__("torch").complex64),
        "object_with_read": lambda: type("R", (), {"read": lambda self, n=-1: b""})(),
        "read_returns_text": lambda: type("T", (), {"read": lambda self, n=-1: "RIFF"})(),
        "fifo_missing": lambda: Path("/tmp/wav2text-no-such-fifo"),
    }
    for name, make in others.items():
        yield f"object_{name}", make, {}
    bad_options = {
        "rate_zero": {"sample_rate": 0},
        "rate_negative": {"sample_rate": -16000},
        "rate_fraction": {"sample_rate": 16000.5},
        "rate_text": {"sample_rate": "fast"},
        "rate_nan": {"sample_rate": math.nan},
        "rate_bool": {"sample_rate": True},
        "rate_huge": {"sample_rate": 10**12},
        "channel_negative": {"channel": -1},
        "channel_missing": {"channel": 5},
        "max_segment_nan": {"max_segment_s": math.nan},
        "chunk_huge": {"chunk_length_s": 1e9},
        "chunk_zero": {"chunk_length_s": 0},
        "stride_inf": {"stride_length_s": math.inf},
        "batch_zero": {"batch_size": 0},
        "confidence_nan": {"rate_confidence": math.nan},
        "candidates_bad": {"rate_candidates": (0, -1)},
        "segmentation_bad": {"segmentation": "sentence"},
        "confidence_zero": {"rate_confidence": 0},
        "confidence_two": {"rate_confidence": 2},
        "max_duration_negative": {"max_duration_s": -1},
        "max_duration_short": {"max_duration_s": 0.1},
        "time_limit_zero": {"time_limit_s": 0},
        "time_limit_tiny": {"time_limit_s": 1e-9},
        "stream_index_negative": {"stream_index": -1},
        "batch_text": {"batch_size": "8"},
        "channels_both": {"channels": "both"},
        "language_for_one": {"language": "fr"},
        "max_segment_short": {"max_segment_s": 0.5},
        "chunk_under_stride": {"chunk_length_s": 2, "stride_length_s": 1.5},
        "rate_auto_short": {"sample_rate": "auto"},
        "raw_for_array": {"raw": "s16le"},
        "char_timestamps_text": {"char_timestamps": "yes"},
        "check_rate_on_array": {"check_rate": True},
        "window_tiny_chunk": {
            "segmentation": "window",
            "chunk_length_s": 0.01,
            "stride_length_s": 0.001,
        },
        "split_and_channel": {"channels": "split", "channel": 0},
    }
    for name, fields in bad_options.items():
        yield f"options_{name}", lambda: tone, {"sample_rate": RATE, **fields}


def _closed() -> io.BytesIO:
    stream = io.BytesIO(b"RIFF")
    stream.close()
    return stream


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for file_name, data in file_kinds(out):
        (out / file_name).write_bytes(data)
