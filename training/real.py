"""The real recordings in tests/data/real (copied from the project's shared data, licences in
its SOURCES.md), as their manifest describes them."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from wav2text import RawFormat, TranscribeOptions

REAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"


@dataclass(frozen=True)
class RealClip:
    path: Path
    transcript: str
    duration_s: float
    rate: int
    channels: int
    container_codec: str

    @property
    def file(self) -> str:
        return self.path.name

    def options(self, base: TranscribeOptions | None = None) -> TranscribeOptions:
        """`base` with how to open this clip: the header's rate, or for headerless PCM the
        format and rate the manifest gives."""
        base = base or TranscribeOptions()
        if self.path.suffix == ".raw":
            return replace(base, raw=RawFormat("s16le", self.channels), sample_rate=self.rate)
        return replace(base, raw=None, sample_rate=None)


def real_clips(directory: Path = REAL_DIR, min_seconds: float = 0.0) -> list[RealClip]:
    """Every clip the manifest lists (none if the directory has no manifest)."""
    manifest = directory / "manifest.tsv"
    if not manifest.exists():
        return []
    with manifest.open() as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    clips = [
        RealClip(
            path=directory / row["file"],
            transcript=row["transcript"],
            duration_s=float(row["duration_s"]),
            rate=int(row["native_rate_hz"]),
            channels=int(row["channels"]),
            container_codec=row["container_codec"],
        )
        for row in rows
    ]
    return [clip for clip in clips if clip.duration_s >= min_seconds]
