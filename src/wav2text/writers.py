"""Output formats: one small writer each, the one registry of them, and atomic writing.

The registry is the only list of formats: the CLI's `-f` choices, the server's
`response_format` values and media types, and the files a batch writes all come from it.
"""

from __future__ import annotations

import io
import json
import math
import os
import secrets
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TextIO

from .errors import OptionsError
from .results import Segment, Transcript, Word


def _timestamp(seconds: float, decimal: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


@dataclass(frozen=True)
class Writer:
    """A format: its name for `-f` (None: the server's only), the file suffix, its media
    type, and the `response_format` that asks the server for it (None: files only)."""

    name: ClassVar[str | None]
    suffix: ClassVar[str]
    media_type: ClassVar[str] = "text/plain; charset=utf-8"
    response_format: ClassVar[str | None] = None
    openai_shape: ClassVar[bool] = False  # the server's shape: not among `-f all`

    def write(self, transcript: Transcript, file: TextIO) -> None:
        raise NotImplementedError

    def render(self, transcript: Transcript) -> str:
        text = io.StringIO()
        self.write(transcript, text)
        return text.getvalue()


class TxtWriter(Writer):
    name, suffix, response_format = "txt", ".txt", "text"

    def write(self, transcript: Transcript, file: TextIO) -> None:
        file.write(transcript.text + "\n")


class JsonWriter(Writer):
    """Everything wav2text knows: words, segments, the audio's facts, warnings."""

    name, suffix, media_type = "json", ".json", "application/json"

    def write(self, transcript: Transcript, file: TextIO) -> None:
        json.dump(transcript.to_dict(), file, ensure_ascii=False, indent=2)
        file.write("\n")


@dataclass(frozen=True)
class CueLayout:
    """How subtitle cues are laid out: at most `max_width` characters a line and
    `max_lines` lines a cue (players and broadcasters expect about 42 x 2); None: one
    line per segment, as long as it is. Cues split at word boundaries, with the words'
    own times."""

    max_width: int | None = None
    max_lines: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_width", "max_lines"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or not 1 <= value <= 1000):
                raise OptionsError(f"{name} must be a whole number from 1 to 1000, got {value!r}")

    def cues(self, segment: Segment) -> list[tuple[float, float, list[str]]]:
        """The segment as (start, end, lines) cues."""
        if self.max_width is None and self.max_lines is None:
            return [(segment.start, segment.end, [segment.text])]
        cues: list[tuple[float, float, list[str]]] = []
        lines: list[list[Word]] = []
        for word in segment.words:
            if lines and self._fits(lines[-1], word):
                lines[-1].append(word)
                continue
            if lines and len(lines) == (self.max_lines or len(lines) + 1):
                cues.append(_cue(lines))
                lines = []
            lines.append([word])
        return [*cues, _cue(lines)] if lines else cues

    def _fits(self, line: list[Word], word: Word) -> bool:
        width = sum(len(w.text) + 1 for w in line) + len(word.text)
        return self.max_width is None or width <= self.max_width


def _cue(lines: list[list[Word]]) -> tuple[float, float, list[str]]:
    return lines[0][0].start, lines[-1][-1].end, [" ".join(w.text for w in ln) for ln in lines]


@dataclass(frozen=True)
class _CueWriter(Writer):
    """Subtitles: cues from segments (laid out by `layout`), after an optional header and
    cue number; split channels' cues say whose they are."""

    decimal: ClassVar[str] = "."
    header: ClassVar[str] = ""
    numbered: ClassVar[bool] = False
    speaker: ClassVar[str] = "[{channel}] {text}"
    layout: CueLayout = CueLayout()

    def write(self, transcript: Transcript, file: TextIO) -> None:
        file.write(self.header)
        cues = [(c, s.channel) for s in transcript.segments for c in self.layout.cues(s)]
        for index, ((start, end, lines), channel) in enumerate(cues, start=1):
            number = f"{index}\n" if self.numbered else ""
            text = "\n".join(lines)
            if channel is not None:
                text = self.speaker.format(channel=channel, text=text)
            times = f"{_timestamp(start, self.decimal)} --> {_timestamp(end, self.decimal)}"
            file.write(f"{number}{times}\n{text}\n\n")


class SrtWriter(_CueWriter):
    name, suffix, media_type, response_format = "srt", ".srt", "application/x-subrip", "srt"
    decimal, numbered = ",", True


class VttWriter(_CueWriter):
    name, suffix, media_type, response_format = "vtt", ".vtt", "text/vtt", "vtt"
    header = "WEBVTT\n\n"
    speaker = "<v channel {channel}>{text}"  # WebVTT's voice span


class TsvWriter(Writer):
    """One row per word: start and end in milliseconds, confidence, text (and the
    channel, for split channels)."""

    name, suffix, media_type, response_format = "tsv", ".tsv", "text/tab-separated-values", "tsv"

    def write(self, transcript: Transcript, file: TextIO) -> None:
        split = any(w.channel is not None for w in transcript.words)
        file.write("start\tend\tconfidence\t" + ("channel\t" if split else "") + "text\n")
        for word in transcript.words:
            channel = f"{word.channel}\t" if split else ""
            file.write(
                f"{round(word.start * 1000)}\t{round(word.end * 1000)}\t"
                f"{word.confidence:.3f}\t{channel}{word.text}\n"
            )


class OpenAIJsonWriter(Writer):
    """OpenAI's plain `json` response: the text alone."""

    name, suffix, media_type, response_format = None, ".json", "application/json", "json"

    def write(self, transcript: Transcript, file: TextIO) -> None:
        json.dump({"text": transcript.text}, file, ensure_ascii=False)


@dataclass(frozen=True)
class VerboseJsonWriter(Writer):
    """OpenAI's `verbose_json` shape, with wav2text's audio facts and warnings beside it;
    `granularities` are its `timestamp_granularities[]` (segment, word)."""

    name, suffix, media_type = "verbose_json", ".verbose.json", "application/json"
    response_format, openai_shape = "verbose_json", True
    granularities: tuple[str, ...] = ("segment", "word")

    def write(self, transcript: Transcript, file: TextIO) -> None:
        json.dump(self.body(transcript), file, ensure_ascii=False)

    def body(self, transcript: Transcript) -> dict[str, Any]:
        body: dict[str, Any] = {
            "task": "transcribe",
            "language": transcript.language or "unknown",
            "duration": transcript.duration,
            "text": transcript.text,
            "audio": transcript.to_dict()["audio"],
            "warnings": list(transcript.warnings),
        }
        if "segment" in self.granularities:
            body["segments"] = [_segment(i, s) for i, s in enumerate(transcript.segments)]
        if "word" in self.granularities:
            body["words"] = [openai_word(w) for w in transcript.words]
        return body


def openai_word(word: Word) -> dict[str, Any]:
    """A word as OpenAI's verbose_json lists it (and live events do), with its confidence."""
    return {"word": word.text, "start": word.start, "end": word.end, "confidence": word.confidence}


def _segment(index: int, segment: Segment) -> dict[str, Any]:
    """A segment in OpenAI's shape; fields a CTC model has no notion of are neutral."""
    confidences = [max(w.confidence, 1e-6) for w in segment.words]
    encoded = segment.text.encode()
    return {
        "id": index,
        "seek": 0,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": sum(math.log(c) for c in confidences) / max(1, len(confidences)),
        "compression_ratio": len(encoded) / max(1, len(zlib.compress(encoded))),
        "no_speech_prob": 0.0,
    }


_ALL: tuple[Writer, ...] = (
    TxtWriter(),
    JsonWriter(),
    SrtWriter(),
    VttWriter(),
    TsvWriter(),
    VerboseJsonWriter(),
    OpenAIJsonWriter(),
)
# -f NAME: the formats written to files and stdout
WRITERS: dict[str, Writer] = {w.name: w for w in _ALL if w.name is not None}
# what `-f all` writes: every file format but the server's OpenAI shapes
ALL_FORMATS: tuple[str, ...] = tuple(n for n, w in WRITERS.items() if not w.openai_shape)
# response_format=NAME: what the server answers in
RESPONSE_WRITERS: dict[str, Writer] = {
    w.response_format: w for w in _ALL if w.response_format is not None
}


PART = ".part"  # the suffix of a temporary output, renamed into place when whole
_PART_PREFIX_CHARS = 96  # of the output's name in its temporary's: any valid name fits


def writer(fmt: str, layout: CueLayout | None = None) -> Writer:
    """The registry's writer of `fmt`; subtitles laid out by `layout`."""
    chosen = WRITERS[fmt]
    if layout is not None and isinstance(chosen, _CueWriter):
        return replace(chosen, layout=layout)
    return chosen


def write_atomic(
    path: Path, transcript: Transcript, fmt: str, layout: CueLayout | None = None
) -> None:
    """Write to a temporary file beside `path`, then rename: never a partial output. The
    output gets the mode a plain open() would give it (0666 less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = path.parent / f".{path.name[:_PART_PREFIX_CHARS]}."
    temp = ""
    try:  # the name is known before the file exists: Ctrl-C at any point leaves no temporary
        handle = None
        while handle is None:
            temp = f"{prefix}{secrets.token_hex(6)}{PART}"
            handle = _create(temp)
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            writer(fmt, layout).write(transcript, file)
        os.replace(temp, path)
    except BaseException:
        if temp:
            Path(temp).unlink(missing_ok=True)
        raise


def _create(name: str) -> int | None:
    """A new file, created with mode 0666 so the kernel applies the umask as open() would
    (nothing process-wide is read or changed); None if the name is taken."""
    try:
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return None


def stale_parts(path: Path) -> list[Path]:
    """Temporary files an interrupted write of `path` left (a kill -9 before the rename)."""
    prefix = f".{path.name[:_PART_PREFIX_CHARS]}."
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(PART)]


def output_paths(out_dir: Path, stem: str, formats: Iterable[str]) -> list[Path]:
    return [out_dir / f"{stem}{WRITERS[fmt].suffix}" for fmt in formats]


def write_outputs(
    transcript: Transcript,
    out_dir: Path,
    stem: str,
    formats: Iterable[str],
    layout: CueLayout | None = None,
) -> list[Path]:
    formats = list(formats)
    paths = output_paths(out_dir, stem, formats)
    for path, fmt in zip(paths, formats, strict=True):
        write_atomic(path, transcript, fmt, layout)
    return paths
