"""The real recordings in ../shared/data/real: every container, rate and layout decodes right."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import REQUIRE_TOOLS, SHARED_REAL
from wav2text import RawFormat, TranscribeOptions, Transcriber


def manifest() -> list[dict[str, str]]:
    path = SHARED_REAL / "manifest.tsv"
    if not path.exists():
        return []
    with path.open() as file:
        return list(csv.DictReader(file, delimiter="\t"))


ROWS = manifest()


def options_for(row: dict[str, str]) -> TranscribeOptions:
    if row["file"].endswith(".raw"):  # headerless: the manifest says how to read it
        return TranscribeOptions(
            raw=RawFormat("s16le", int(row["channels"])), sample_rate=int(row["native_rate_hz"])
        )
    return TranscribeOptions()


@pytest.mark.skipif(not ROWS and not REQUIRE_TOOLS, reason="shared/data/real not present")
@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_real_clip_facts(tiny: Transcriber, row: dict[str, str]) -> None:
    result = tiny.transcribe(SHARED_REAL / row["file"], options_for(row))
    info = result.audio
    assert info.source_rate == int(row["native_rate_hz"])
    assert info.channels == int(row["channels"])
    assert info.resampled == (info.source_rate != 16000)
    assert (info.downmix is not None) == (info.channels > 1)
    # ffprobe counts MP3 encoder padding that a gapless decode drops (up to ~0.1 s).
    assert result.duration == pytest.approx(float(row["duration_s"]), abs=0.1)
    container = row["container_codec"].split("/")[0].split(" ")[0]
    assert info.container == ("s16le" if container == "raw" else container)


def test_real_clips_are_there_in_ci() -> None:
    assert ROWS or not REQUIRE_TOOLS, f"expected the real clips at {SHARED_REAL}"


def test_all_kinds_of_real_input_present() -> None:
    kinds = {Path(r["file"]).suffix for r in ROWS}
    if ROWS:
        assert {".wav", ".flac", ".mp3", ".aiff", ".raw"} <= kinds


def test_shipped_sample(tiny: Transcriber) -> None:
    """The README's sample: 44.1 kHz stereo big-endian AIFF, nothing a model expects."""
    sample = Path(__file__).resolve().parents[1] / "samples" / "one_two_three_44k_stereo_s16be.aiff"
    info = tiny.transcribe(sample).audio
    assert (info.container, info.codec, info.channels) == ("aiff", "pcm_s16be", 2)
    assert info.steps() == "decode pcm_s16be -> downmix 2->1 (mean) -> resample 44100->16000 Hz"
