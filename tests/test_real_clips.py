"""The real recordings in tests/data/real: every container, rate and layout decodes right."""

from __future__ import annotations

from pathlib import Path

import pytest
from training.real import REAL_DIR, RealClip, real_clips

from wav2text import Transcriber

CLIPS = real_clips(REAL_DIR)


@pytest.mark.parametrize("clip", CLIPS, ids=[c.file for c in CLIPS])
def test_real_clip_facts(tiny: Transcriber, clip: RealClip) -> None:
    result = tiny.transcribe(clip.path, clip.options())
    info = result.audio
    assert info.source_rate == clip.rate
    assert info.channels == clip.channels
    assert info.resampled == (info.source_rate != 16000)
    assert (info.downmix is not None) == (info.channels > 1)
    # ffprobe counts MP3 encoder padding that a gapless decode drops (up to ~0.1 s).
    assert result.duration == pytest.approx(clip.duration_s, abs=0.1)
    container = clip.container_codec.split("/")[0].split(" ")[0]
    assert info.container == ("s16le" if container == "raw" else container)


def test_the_real_clips_ship_with_the_repository() -> None:
    """They are part of the clone: nothing beside the repository is read."""
    assert len(CLIPS) == 28 and all(clip.path.is_file() for clip in CLIPS)
    assert REAL_DIR.is_relative_to(Path(__file__).resolve().parent)


def test_all_kinds_of_real_input_present() -> None:
    kinds = {clip.path.suffix for clip in CLIPS}
    if CLIPS:
        assert {".wav", ".flac", ".mp3", ".aiff", ".raw"} <= kinds


def test_shipped_sample(tiny: Transcriber) -> None:
    """The README's sample: 44.1 kHz stereo big-endian AIFF, nothing a model expects."""
    sample = Path(__file__).resolve().parents[1] / "samples" / "one_two_three_44k_stereo_s16be.aiff"
    info = tiny.transcribe(sample).audio
    assert (info.container, info.codec, info.channels) == ("aiff", "pcm_s16be", 2)
    assert info.steps() == "decode pcm_s16be -> downmix 2->1 (mean) -> resample 44100->16000 Hz"
