"""Decode any input into float32 sample blocks of shape (n, channels), then to mono.

Files, bytes, binary streams and headerless PCM all go through PyAV (FFmpeg bundled);
arrays and tensors are scaled and sliced here. Nothing is read whole: blocks stream.
"""

from __future__ import annotations

import io
import os
import select
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

import av
import numpy as np

from .arrays import BLOCK_SAMPLES, array_blocks, frames_by_channels, is_array, to_numpy
from .errors import (
    GIVE_RATE,
    RAW,
    AudioDecodeError,
    EmptyAudioError,
    Fix,
    InvalidAudioError,
    NoAudioStreamError,
    OptionsError,
    TimeLimitError,
    TruncatedAudioError,
    UnknownSampleRateError,
)
from .options import RawFormat, TranscribeOptions
from .rate import UNKNOWN_RATE_PLACEHOLDER, RateChoice, valid_rate
from .rawformat import HEAD_BYTES, detect_layout
from .results import AudioInfo, RateSource

TRUNCATION_TOLERANCE_S = 0.15  # MP3 priming + padding reach ~100 ms at 22 kHz
TRUNCATION_TOLERANCE_SHARE = 0.01

# Undecodable tags must not stop a file from opening: PyAV < 19 raises unless told to
# ignore them; PyAV 19 no longer takes the option (and replaces such bytes itself).
_METADATA_OPTIONS: dict[str, Any] = (
    {"metadata_errors": "ignore"} if int(av.__version__.split(".")[0]) < 19 else {}
)


Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | np.ndarray | Any


@dataclass(frozen=True)
class DecodedAudio:
    """An opened input: its facts, and an iterator of (n, channels) float32 blocks."""

    rate: int | None  # None until decided, for sample_rate="auto"
    channels: int
    rate_source: RateSource | None
    codec: str | None
    container: str | None
    blocks: Iterator[np.ndarray]
    declared_s: float | None = None  # the length the container declares, if it does


def open_audio(
    source: Source,
    *,
    sample_rate: RateChoice = None,
    raw: RawFormat | None = None,
    stream_index: int = 0,
    allow_truncated: bool = False,
    block_samples: int = BLOCK_SAMPLES,
    open_timeout_s: float | None = None,
) -> DecodedAudio:
    """Open any supported input. Decoding happens lazily as `blocks` is consumed, in
    blocks of about `block_samples` samples (smaller for live audio: less delay).

    sample_rate="auto" leaves the rate unknown (None, and no rate_source) until the caller
    decides it from the samples (estimation.decide.decide_rate); a header's rate is not used.
    """
    auto = sample_rate == "auto"
    rate = None if sample_rate is None or sample_rate == "auto" else valid_rate(sample_rate)
    if is_array(source):
        if raw is not None:
            raise OptionsError("raw= describes bytes; an array already has its samples")
        return _open_array(source, rate, auto)
    if raw is not None and rate is None and not auto:
        raise UnknownSampleRateError("headerless PCM carries no sampling rate", GIVE_RATE)
    audio = _open_container(
        source, rate, raw, stream_index, allow_truncated, block_samples, open_timeout_s
    )
    return replace(audio, rate=None, rate_source=None) if auto else audio


def open_with(source: Source, options: TranscribeOptions) -> DecodedAudio:
    """open_audio with the input-reading fields of TranscribeOptions."""
    return open_audio(
        source,
        sample_rate=options.sample_rate,
        raw=options.raw,
        stream_index=options.stream_index,
        allow_truncated=options.allow_truncated,
        open_timeout_s=options.open_timeout_s,
    )


def audio_info(
    audio: DecodedAudio,
    channel: int | None,
    model_rate: int,
    duration: float,
    rate_confidence: float | None = None,
    rate_runner_up: int | None = None,
) -> AudioInfo:
    """The facts of opened audio and the steps that bring it to a model at model_rate."""
    assert audio.rate is not None and audio.rate_source is not None, "rate not decided"
    return AudioInfo(
        source_rate=audio.rate,
        rate_source=audio.rate_source,
        channels=audio.channels,
        codec=audio.codec,
        container=audio.container,
        model_rate=model_rate,
        resampled=audio.rate != model_rate,
        downmix=downmix_note(audio.channels, channel),
        duration=duration,
        rate_confidence=rate_confidence,
        rate_runner_up=rate_runner_up,
    )


def check_channel(audio: DecodedAudio, channel: int | None) -> None:
    """The channel asked for exists (inspect's plan and transcribe refuse alike)."""
    if channel is not None and channel >= audio.channels:
        raise OptionsError(
            f"channel {channel} asked for, but the audio has {audio.channels} channel(s) "
            f"numbered 0..{audio.channels - 1}"
        )


def to_mono(audio: DecodedAudio, channel: int | None = None) -> Iterator[np.ndarray]:
    """Average the channels (or keep one), rejecting NaN/Inf samples as they pass."""
    check_channel(audio, channel)
    seen = 0
    for block in audio.blocks:
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            at = seen + int(np.argmin(finite))
            where = f"{at / audio.rate:.2f} s" if audio.rate else f"sample {at}"
            raise InvalidAudioError(
                f"the audio holds NaN or infinite samples (first at {where}); "
                "fix the producer of this audio or replace them, e.g. np.nan_to_num(x)"
            )
        seen += len(block)
        if channel is not None:
            yield np.ascontiguousarray(block[:, channel])
        elif audio.channels == 1:
            yield block[:, 0]
        else:
            yield block.mean(axis=1, dtype=np.float32)


def downmix_note(channels: int, channel: int | None) -> str | None:
    if channel is not None and channels > 1:
        return f"{channels}->1 (channel {channel})"
    return f"{channels}->1 (mean)" if channels > 1 else None


def _open_array(source: Any, rate: int | None, auto: bool) -> DecodedAudio:
    samples = frames_by_channels(to_numpy(source))
    if rate is None and not auto:
        raise UnknownSampleRateError(
            "an array carries no sampling rate: pass sample_rate=RATE with the rate it was "
            "recorded or loaded at (librosa.load returns it; soundfile.read too)"
        )
    given: RateSource | None = None if auto else "given"
    return DecodedAudio(rate, samples.shape[1], given, None, None, array_blocks(samples))


# --- containers, byte streams, raw PCM (PyAV) ---------------------------------------


def _open_container(
    source: Source,
    rate: int | None,
    raw: RawFormat | None,
    stream_index: int,
    allow_truncated: bool,
    block_samples: int = BLOCK_SAMPLES,
    open_timeout_s: float | None = None,
) -> DecodedAudio:
    file, name = _as_file(source, open_timeout_s)
    # a FIFO given by path is opened here, and closed here once read
    owned = file if isinstance(source, (str, os.PathLike)) and not isinstance(file, str) else None
    if raw is not None and raw.sample_format == "auto":
        file, raw = _detect_format(file, raw)
    check_length = raw is None and not allow_truncated  # raw PCM declares no length
    tally = None
    if check_length and not isinstance(file, str) and not _seekable(file):
        file = tally = _Tally(file)  # a pipe: its length is known only once it ends
    missing = _wav_missing_bytes(file) if check_length and tally is None else None
    try:
        container = _av_open(file, name, rate, raw)
    except AudioDecodeError as err:
        if tally is not None and tally.count == 0:  # a pipe that ended before its first byte
            raise EmptyAudioError(f"{name}: the stream ended with no bytes (0 bytes)") from err
        raise
    streams = container.streams.audio
    if stream_index >= len(streams):
        container.close()
        have = f"only {len(streams)} audio stream(s)" if streams else "no audio stream"
        raise NoAudioStreamError(
            f"{name}: {have}"
            + (f", so stream {stream_index} does not exist" if streams else "")
            + " (a silent video, or not a media file)",
            RAW.after("pick a file with an audio track, or, if it is headerless PCM, "),
        )
    stream = streams[stream_index]
    if stream.codec_context is None:  # a codec FFmpeg knows no decoder for
        container.close()
        raise AudioDecodeError(
            f"{name}: its audio is in a codec FFmpeg cannot decode; "
            "convert it to a common format (wav, flac, mp3, opus) first"
        )
    header_rate = stream.codec_context.sample_rate or stream.rate
    channels = stream.codec_context.channels
    if not header_rate or not channels:
        container.close()
        raise AudioDecodeError(f"{name}: the audio stream declares no rate or channel count")
    declared = _expected_seconds(stream, container) if raw is None else None
    expected = declared if check_length else None
    blocks = _decode(container, stream, name, expected, missing, block_samples, tally, owned)
    return DecodedAudio(
        rate=rate or header_rate,
        channels=channels,
        rate_source="given" if rate else "header",
        codec=stream.codec_context.name,
        container=container.format.name,
        blocks=blocks,
        declared_s=declared,
    )


def _as_file(source: Source, open_timeout_s: float | None = None) -> tuple[Any, str]:
    if isinstance(source, (str, os.PathLike)):
        return _path(os.fspath(source), open_timeout_s)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyAudioError("the input bytes are empty (0 bytes)")
        return io.BytesIO(bytes(source)), "<bytes>"
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        name = name if isinstance(name, str) else "<stream>"
        if isinstance(source, io.TextIOBase) or _reads_text(source):
            raise InvalidAudioError(
                f"{name}: the file is open in text mode; open it in binary mode, "
                "open(path, 'rb'), or pass its path"
            )
        if getattr(source, "closed", False):
            raise InvalidAudioError(f"{name}: the file object is closed; pass an open one")
        if _seekable(source) and _bytes_left(source) == 0:
            raise EmptyAudioError(f"{name}: the file object has no bytes left to read (0 bytes)")
        return source, name
    raise InvalidAudioError(
        f"cannot read audio from {type(source).__name__}; pass a path, bytes, a binary file "
        "object, or a numpy array / torch tensor with sample_rate"
    )


def _bytes_left(file: Any) -> int:
    here = file.tell()
    end = file.seek(0, io.SEEK_END)
    file.seek(here)
    return int(end - here)


def _reads_text(source: Any) -> bool:
    """Whether a file-like object's read() gives str (read(0) reads nothing)."""
    try:
        return isinstance(source.read(0), str)
    except Exception:  # closed, or a read() that takes no size: PyAV's error will say
        return False


def _path(path: str, open_timeout_s: float | None) -> tuple[Any, str]:
    """A path as PyAV reads it: a regular file by name, a FIFO as the stream it is."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise AudioDecodeError(f"{path}: no such file") from None
    except OSError as err:
        raise AudioDecodeError(f"{path}: cannot be read ({err.strerror})") from None
    if stat.S_ISDIR(mode):
        raise AudioDecodeError(
            f"{path}: is a directory; pass the files in it (the CLI takes a directory and "
            "finds the audio in it)"
        )
    if stat.S_ISFIFO(mode):
        return _open_fifo(path, open_timeout_s), path
    if not stat.S_ISREG(mode):
        raise AudioDecodeError(f"{path}: is a device, not a file; pass an audio file")
    try:
        with open(path, "rb"):  # PyAV would call a file it may not read "not audio"
            pass
    except OSError as err:
        raise AudioDecodeError(f"{path}: cannot be read ({err.strerror})") from None
    if os.path.getsize(path) == 0:
        raise EmptyAudioError(f"{path}: the file is empty (0 bytes)")
    return path, path


class WaitingForWriterWarning(UserWarning):
    """A FIFO given by path has had nothing written to it for a while: it is waited for."""


FIFO_NOTICE_S = 3.0  # a FIFO silent this long gets a warning saying what is waited for


def _open_fifo(path: str, timeout_s: float | None) -> BinaryIO:
    """A FIFO opened as the stream it is. Opening one blocks until a program opens it to
    write; this waits for its first bytes instead (up to timeout_s, or as long as it
    takes), and says so once when nothing comes within FIFO_NOTICE_S."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    notice_s = FIFO_NOTICE_S if timeout_s is None else min(FIFO_NOTICE_S, timeout_s)
    written = bool(waiting.poll(notice_s * 1000))
    if not written and (timeout_s is None or timeout_s > FIFO_NOTICE_S):
        warnings.warn(
            f"{path}: waiting for a program to write to this FIFO (nothing has yet); "
            "start the writer, or stop with Ctrl-C",
            WaitingForWriterWarning,
            stacklevel=2,
        )
        left_ms = None if timeout_s is None else (timeout_s - FIFO_NOTICE_S) * 1000
        written = bool(waiting.poll(left_ms))
    if not written:
        os.close(fd)
        raise TimeLimitError(
            f"{path}: nothing was written to this FIFO within {timeout_s:g} s", NO_WRITER
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


NO_WRITER = Fix(
    "start the program that writes to it first, or pass a longer open_timeout_s "
    "(None waits as long as it takes)",
    "start the program that writes to it first, or give a longer --open-timeout",
    "start the program that writes to it first",
)


def _av_open(file: str | BinaryIO, name: str, rate: int | None, raw: RawFormat | None) -> Any:
    # mode="r": PyAV otherwise takes the mode of a file object, and one opened "w+b"
    # (tempfile.TemporaryFile, an HTTP upload) would be opened for writing
    try:
        if raw is None:
            return av.open(file, mode="r", **_METADATA_OPTIONS)
        layout = _layout_name(raw.channels or 1)
        options = {"sample_rate": str(rate or UNKNOWN_RATE_PLACEHOLDER), "ch_layout": layout}
        return av.open(file, mode="r", format=raw.sample_format, options=options)
    except av.error.FFmpegError as err:
        raise AudioDecodeError(
            f"{name}: not a readable audio or video file ({err.strerror})",
            RAW.after("if it is headerless PCM, "),
        ) from err


def _layout_name(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def _decode(
    container: Any,
    stream: Any,
    name: str,
    expected_s: float | None,
    missing_bytes: int | None,
    block_samples: int,
    tally: _Tally | None = None,
    owned: Any = None,
) -> Iterator[np.ndarray]:
    resampler = av.AudioResampler(format="flt", rate=stream.codec_context.sample_rate)
    pending: list[np.ndarray] = []
    pending_n = decoded = 0
    try:
        for frame in _frames(container, stream, resampler):
            samples = frame.to_ndarray().reshape(frame.samples, -1)
            pending.append(samples)
            pending_n += len(samples)
            decoded += len(samples)
            if pending_n >= block_samples:
                yield np.concatenate(pending)
                pending, pending_n = [], 0
    except (av.error.FFmpegError, ValueError) as err:
        raise AudioDecodeError(
            f"{name}: decoding failed after {decoded / stream.codec_context.sample_rate:.2f} s "
            f"({err}); the file is corrupt or truncated: re-export or re-download it"
        ) from err
    finally:
        container.close()
        if owned is not None:
            owned.close()
    if pending:
        yield np.concatenate(pending)
    if tally is not None:
        missing_bytes = tally.missing()
    _check_complete(name, decoded / stream.codec_context.sample_rate, expected_s, missing_bytes)


def _frames(container: Any, stream: Any, resampler: Any) -> Iterator[Any]:
    for frame in container.decode(stream):
        yield from resampler.resample(frame)
    yield from resampler.resample(None)


def _expected_seconds(stream: Any, container: Any) -> float | None:
    """The audio stream's declared length; the container's only when the audio is all it
    holds (Matroska/WebM give no length per stream, and a video may outlast its sound)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def _check_complete(
    name: str, decoded_s: float, expected_s: float | None, missing_bytes: int | None
) -> None:
    present = f"to transcribe the {decoded_s:.2f} s present"
    fix = Fix(
        f"re-export or re-download it, or pass allow_truncated=True {present}",
        f"re-export or re-download it, or add --allow-truncated {present}",
        "re-export or re-download it and send it again",
    )
    if missing_bytes:
        raise TruncatedAudioError(
            f"{name}: the WAV header declares {missing_bytes} more bytes of audio than the "
            "file holds: it was cut short",
            fix,
        )
    if expected_s is None:
        return
    tolerance = max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_SHARE * expected_s)
    if expected_s - decoded_s > tolerance:
        raise TruncatedAudioError(
            f"{name}: the file declares {expected_s:.2f} s of audio but only {decoded_s:.2f} s "
            "decoded: it is truncated or damaged",
            fix,
        )


def _wav_missing_bytes(file: str | BinaryIO) -> int | None:
    """Bytes the RIFF 'data' chunk declares beyond the end of the file, if any.

    FFmpeg quietly clamps a cut-short WAV to what is there, so this is checked by hand.
    """
    head, size = _peek(file, 1 << 16)
    return _missing(head, size) if head is not None and size is not None else None


def _missing(head: bytes, size: int) -> int | None:
    """For a WAV beginning with `head` and `size` bytes long: the bytes its data lacks."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk, length = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            if length in (0, 0xFFFFFFFF):  # unfinished or streamed WAV: length unknown
                return None
            missing = length - (size - pos - 8)
            return missing if missing > 0 else None
        pos += 8 + length + (length & 1)
    return None


def _seekable(file: Any) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


class _Tally(io.RawIOBase):
    """A stream passed through, its head kept and its bytes counted, so that a WAV read
    from a pipe (stdin) is checked for truncation once it ends, as a file is at once."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.head = b""
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        if len(self.head) < 1 << 16:
            self.head += data[: (1 << 16) - len(self.head)]
        self.count += len(data)
        return len(data)

    def missing(self) -> int | None:
        return _missing(self.head, self.count)


def _detect_format(file: str | BinaryIO, raw: RawFormat) -> tuple[str | BinaryIO, RawFormat]:
    """Read the head of raw PCM, tell its sample format, and give back an intact stream."""
    head, _ = _peek(file, HEAD_BYTES)
    if head is None:  # a pipe: what is read is gone, so it is handed back in front
        head = file.read(HEAD_BYTES)  # type: ignore[union-attr]
        file = io.BufferedReader(_Prepended(head, file))  # type: ignore[arg-type]
    return file, RawFormat(*detect_layout(head, raw.channels))


class _Prepended(io.RawIOBase):
    """Bytes already read, then the rest of the stream: works for pipes too."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = io.BytesIO(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._head.readinto(buffer)
        if n:
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _peek(file: str | BinaryIO, n: int) -> tuple[bytes | None, int | None]:
    if isinstance(file, str):
        with open(file, "rb") as handle:
            return handle.read(n), os.path.getsize(file)
    try:
        if not file.seekable():
            return None, None
        here = file.tell()
        head = file.read(n)
        size = file.seek(0, io.SEEK_END)
        file.seek(here)
        return head, size - here
    except (OSError, AttributeError, ValueError):
        return None, None
