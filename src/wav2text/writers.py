"""One small writer per output format, and atomic writing into a directory."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from .options import OutputFormat
from .results import Transcript


def _timestamp(seconds: float, decimal: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


class Writer:
    extension: OutputFormat

    def write(self, transcript: Transcript, file: TextIO) -> None:
        raise NotImplementedError


class TxtWriter(Writer):
    extension = "txt"

    def write(self, transcript: Transcript, file: TextIO) -> None:
        file.write(transcript.text + "\n")


class JsonWriter(Writer):
    extension = "json"

    def write(self, transcript: Transcript, file: TextIO) -> None:
        json.dump(transcript.to_dict(), file, ensure_ascii=False, indent=2)
        file.write("\n")


class _CueWriter(Writer):
    """Subtitles: one cue per segment, after an optional header and cue number."""

    decimal = "."
    header = ""
    numbered = False

    def write(self, transcript: Transcript, file: TextIO) -> None:
        file.write(self.header)
        for index, segment in enumerate(transcript.segments, start=1):
            number = f"{index}\n" if self.numbered else ""
            start = _timestamp(segment.start, self.decimal)
            end = _timestamp(segment.end, self.decimal)
            file.write(f"{number}{start} --> {end}\n{segment.text}\n\n")


class SrtWriter(_CueWriter):
    extension = "srt"
    decimal = ","
    numbered = True


class VttWriter(_CueWriter):
    extension = "vtt"
    header = "WEBVTT\n\n"


class TsvWriter(Writer):
    """One row per word: start and end in milliseconds, confidence, text."""

    extension = "tsv"

    def write(self, transcript: Transcript, file: TextIO) -> None:
        file.write("start\tend\tconfidence\ttext\n")
        for word in transcript.words:
            file.write(
                f"{round(word.start * 1000)}\t{round(word.end * 1000)}\t"
                f"{word.confidence:.3f}\t{word.text}\n"
            )


WRITERS: dict[OutputFormat, Writer] = {
    w.extension: w for w in (TxtWriter(), JsonWriter(), SrtWriter(), VttWriter(), TsvWriter())
}


def write_atomic(path: Path, transcript: Transcript, fmt: OutputFormat) -> None:
    """Write to a temporary file beside `path`, then rename: never a partial output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            WRITERS[fmt].write(transcript, file)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def output_paths(out_dir: Path, stem: str, formats: Iterable[OutputFormat]) -> list[Path]:
    return [out_dir / f"{stem}.{fmt}" for fmt in formats]


def write_outputs(
    transcript: Transcript, out_dir: Path, stem: str, formats: Iterable[OutputFormat]
) -> list[Path]:
    paths = output_paths(out_dir, stem, formats)
    for path in paths:
        write_atomic(path, transcript, path.suffix[1:])  # type: ignore[arg-type]
    return paths
