"""One owner per rule: where two surfaces used to hold their own copy of a rule and could
disagree, they now read one, and these tests hold them to it."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import noisy_tone
from wav2text.analysis import analyse
from wav2text.audio import open_audio
from wav2text.channels import SAME_DB, distinct_channels
from wav2text.options import RAW_FORMATS, RawFormat, TranscribeOptions
from wav2text.rawformat import sample_bytes
from wav2text.segments import CutPlan
from wav2text.serving import live
from wav2text.vad import SPEECH_PROBABILITY
from wav2text.writers import ALL_FORMATS, WRITERS

RATE = 16000


def stereo(difference_db: float) -> np.ndarray:
    """A stereo signal whose right channel differs from the left by `difference_db`."""
    left = noisy_tone(3.0, RATE).astype(np.float64)
    noise = np.random.default_rng(1).normal(size=len(left))
    noise *= np.sqrt(np.mean(left**2) / np.mean(noise**2) * 10 ** (difference_db / 10))
    return np.stack([left, left + noise], axis=1).astype(np.float32)


@pytest.mark.parametrize("difference_db", [SAME_DB - 5, SAME_DB + 5, -45.0])
def test_inspect_and_split_channels_agree_on_near_identical_channels(
    difference_db: float,
) -> None:
    """`inspect` said identical at -45 dB (its bar was -40) where --split-channels
    transcribed both (its bar -50): one bar now, so one answer."""
    audio = stereo(difference_db)
    kept, _ = distinct_channels(open_audio(audio, sample_rate=RATE))
    inspected = analyse(audio, TranscribeOptions(sample_rate=RATE))
    assert inspected.identical_channels == (len(kept) == 1)
    assert inspected.identical_channels == (difference_db < SAME_DB)


def test_bytes_per_sample_come_from_the_raw_formats() -> None:
    widths = {"u8": 1, "s8": 1, "mulaw": 1, "alaw": 1, "s16le": 2, "s24be": 3, "f64le": 8}
    assert {f: sample_bytes(f) for f in widths} == widths
    assert all(sample_bytes(f) in (1, 2, 3, 4, 8) for f in RAW_FORMATS)
    with pytest.raises(ValueError):
        sample_bytes("s12le")
    stream = live.LiveFormat("s24le", 48000, channels=2)
    assert stream.sample_rate == 48000 and sample_bytes(stream.sample_format) * 2 == 6
    with pytest.raises(Exception, match="unknown raw sample format 's12le'"):
        RawFormat("s12le")


def test_one_speech_threshold_for_cuts_and_live_partials() -> None:
    assert CutPlan.__dataclass_fields__["threshold"].default == SPEECH_PROBABILITY
    assert not hasattr(live, "SPEECH")  # live reads the VAD's own


def test_all_formats_are_the_registry_file_formats() -> None:
    assert ALL_FORMATS == ("txt", "json", "srt", "vtt", "tsv")
    assert set(ALL_FORMATS) == {n for n, w in WRITERS.items() if not w.openai_shape}


def test_one_speller_for_the_aligner_the_lm_and_hotwords() -> None:
    """align.reference and lm.spell_words (LM words, hotwords) spell through ctc.spell: the
    same tokens for the same word; only the aligner also takes accented letters."""
    from wav2text.align import reference
    from wav2text.ctc import Vocabulary
    from wav2text.lm import spell_words

    vocab = Vocabulary(("<pad>", "|", "A", "B", "C", "E", "F", "'"), blank=0, delimiter=1)
    words = ("abc", "CAB", "Fab'e", "café")
    lexicon = spell_words(words, vocab)
    for word in words[:3]:
        assert lexicon[word][:-1] == list(reference(word, vocab)[0].tokens)
    assert "café" not in lexicon and reference("café", vocab)[0].tokens == (4, 2, 6, 5)
