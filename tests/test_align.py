"""Forced alignment: a known transcript's words placed in time."""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ffmpeg, need_tool, noisy_tone
from wav2text import BUNDLED_MODEL, ModelOptions, OptionsError, TranscribeOptions, Transcriber
from wav2text.align import align, reference
from wav2text.cli import main
from wav2text.ctc import Vocabulary

TOKENS = ("<pad>", "|", "A", "B", "C", "D", "'")
VOCAB = Vocabulary(TOKENS, blank=0, delimiter=1)
FRAME_S = 0.02


def one_hot(path: list[int], p: float = 0.9) -> np.ndarray:
    """Log-probs with one likely token per frame, the rest sharing what is left."""
    rest = (1 - p) / (len(TOKENS) - 1)
    log_probs = np.full((len(path), len(TOKENS)), np.log(rest), np.float32)
    log_probs[np.arange(len(path)), path] = np.log(p)
    return log_probs


# blank blank A A B blank | blank C C blank D blank blank: "AB" on frames 2-4, "CD" on 8-11
PATH = [0, 0, 2, 2, 3, 0, 1, 0, 4, 4, 0, 5, 0, 0]


def spans(text: str, path: list[int], window: int = 1500) -> list[tuple[str, int, int]]:
    result = align(one_hot(path), reference(text, VOCAB), VOCAB, FRAME_S, window)
    return [(w.text, round(w.start / FRAME_S), round(w.end / FRAME_S)) for w in result.words]


def test_words_get_the_frames_of_their_letters() -> None:
    assert spans("ab, CD!", PATH) == [("ab,", 2, 5), ("CD!", 8, 12)]


@pytest.mark.parametrize("window", [4, 5, 8, 100])
def test_windows_change_nothing(window: int) -> None:
    assert spans("ab cd", PATH, window) == spans("ab cd", PATH)


def test_a_repeated_letter_needs_a_blank_between() -> None:
    """AA is two tokens only with a blank between them: A A A is one."""
    assert spans("aa", [0, 2, 0, 2, 0]) == [("aa", 1, 4)]


def test_negative_control_a_wrong_text_scores_low_and_is_reported() -> None:
    """The warning is the text's, by its words' mean score: one misheard word of a right
    text does not set it off (on real speech it would on most clips)."""
    right = align(one_hot(PATH), reference("ab cd", VOCAB), VOCAB, FRAME_S)
    only_a = [0, 0, 2, 2, 2, 0, 1, 0, 2, 2, 0, 2, 0, 0]  # audio saying A A A
    wrong = align(one_hot(only_a), reference("bcd dcb", VOCAB), VOCAB, FRAME_S)
    half = align(one_hot(PATH), reference("dc ba", VOCAB), VOCAB, FRAME_S)
    assert min(w.confidence for w in right.words) > 0.8 and not right.warnings
    assert np.mean([w.confidence for w in wrong.words]) < 0.2
    assert any("hardly holds the text" in w for w in wrong.warnings)
    assert np.mean([w.confidence for w in half.words]) > 0.2 and not half.warnings


def test_text_beyond_the_audio_is_reported_not_stretched() -> None:
    result = align(one_hot(PATH), reference("ab cd " + "abcd " * 5, VOCAB), VOCAB, FRAME_S)
    assert [w.text for w in result.words[:2]] == ["ab", "cd"]
    assert all(w.confidence == 0 and w.start == w.end for w in result.words[2:])
    assert any("did not fit in the audio" in w for w in result.warnings)


def test_unspellable_words_and_characters_are_kept_and_reported() -> None:
    result = align(one_hot(PATH), reference("ab 1961 cd3", VOCAB), VOCAB, FRAME_S)
    assert [w.text for w in result.words] == ["ab", "1961", "cd3"]  # as the text writes them
    number = result.words[1]
    assert number.start == number.end == result.words[0].end and number.confidence == 0
    assert any("1961" in w and "write numbers as words" in w for w in result.warnings)
    left_out = [w for w in result.warnings if "left out" in w]
    assert left_out == ["characters the model cannot spell were left out: 3"]  # 1961: said once


def test_punctuation_between_words_is_no_word() -> None:
    result = align(one_hot(PATH), reference("ab -- cd …", VOCAB), VOCAB, FRAME_S)
    assert [w.text for w in result.words] == ["ab", "cd"] and not result.warnings


def test_normalisation_case_punctuation_accents() -> None:
    words = reference("Ça, d'AB!", VOCAB)
    assert [w.tokens for w in words] == [(4, 2), (5, 6, 2, 3)]  # C A / D ' A B
    with pytest.raises(OptionsError, match="no word the model can spell"):
        reference("123 ...", VOCAB)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "ab", "cab", "dd"]), min_size=1, max_size=12))
def test_windowed_alignment_equals_whole_on_random_speech(words: list[str]) -> None:
    """Any text, each letter on two frames, pauses between words: small windows place
    every word where one pass over the whole does."""
    rng = np.random.default_rng(len(words))
    path = []
    for word in words:
        path += [0] * int(rng.integers(1, 6))
        for i, letter in enumerate(word):
            if i and word[i - 1] == letter:
                path.append(0)
            path += [TOKENS.index(letter.upper())] * 2
    path += [0, 0]
    text = " ".join(words)
    assert spans(text, path, window=24) == spans(text, path)


# --- the bundled model on speech with known word boundaries -------------------------------


def speak(words: list[str], seed: int, rate: int = 16000) -> tuple[np.ndarray, list[tuple]]:
    """Each word synthesised alone, joined by 50-300 ms of silence: the boundaries known."""
    need_tool("espeak-ng")
    rng = np.random.default_rng(seed)
    parts, truth, at = [], [], 0
    for word in words:
        wav = subprocess.run(["espeak-ng", "--stdout", word], capture_output=True).stdout
        with wave.open(io.BytesIO(wav)) as f:
            x = np.frombuffer(f.readframes(f.getnframes()), "<i2") / 32768
            x = soxr.resample(x, f.getframerate(), rate)
        loud = np.flatnonzero(np.abs(x) > 0.01)
        x = x[loud[0] : loud[-1] + 1]
        gap = np.zeros(int(rng.uniform(0.05, 0.3) * rate))
        parts += [gap, x]
        truth.append((word, (at + len(gap)) / rate, (at + len(gap) + len(x)) / rate))
        at += len(gap) + len(x)
    parts.append(np.zeros(int(0.3 * rate)))
    return np.concatenate(parts).astype(np.float32), truth


SENTENCES = ["never go to bed mad", "the quick brown fox jumps over the lazy dog"]


@pytest.fixture(scope="module")
def demo() -> Transcriber:
    return Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))


def test_word_times_on_speech_with_known_boundaries(demo: Transcriber) -> None:
    """Measured on these words: median error 0.1 s (the demo model emits letters about
    60 ms after they sound, and a word's first letter later still); bound with room."""
    errors = []
    for seed, sentence in enumerate(SENTENCES):
        audio, truth = speak(sentence.split(), seed)
        result = demo.align(audio, sentence.upper(), TranscribeOptions(sample_rate=16000))
        assert [w.text for w in result.words] == sentence.upper().split()
        assert result.decoder == "forced alignment" and not result.warnings
        for word, (_, start, end) in zip(result.words, truth, strict=True):
            errors += [word.start - start, word.end - end]
    assert np.median(np.abs(errors)) < 0.15 and np.max(np.abs(errors)) < 0.35


def test_the_same_words_at_every_rate_and_container(demo: Transcriber, tmp_path: Path) -> None:
    audio, _ = speak(SENTENCES[0].split(), 0)
    reference_wav = tmp_path / "ref.wav"
    _write_wav(reference_wav, audio, 16000)
    text = "Never go to bed mad."
    base = demo.align(reference_wav, text)
    for name, args in [("s44.m4a", ["-ar", "44100", "-ac", "2"]), ("s8.flac", ["-ar", "8000"])]:
        ffmpeg("-i", str(reference_wav), *args, str(tmp_path / name))
        other = demo.align(tmp_path / name, text)
        assert [w.text for w in other.words] == [w.text for w in base.words]
        for a, b in zip(other.words, base.words, strict=True):
            assert abs(a.start - b.start) <= 0.06 and abs(a.end - b.end) <= 0.06


def test_negative_control_shuffled_words_score_lower(demo: Transcriber) -> None:
    audio, _ = speak(SENTENCES[1].split(), 1)
    options = TranscribeOptions(sample_rate=16000)
    right = demo.align(audio, SENTENCES[1], options)
    shuffled = demo.align(audio, " ".join(reversed(SENTENCES[1].split())), options)
    mean = np.mean([w.confidence for w in right.words])
    assert np.mean([w.confidence for w in shuffled.words]) < mean - 0.3
    assert any("hardly holds the text" in w for w in shuffled.warnings)
    assert not any("hardly holds" in w for w in right.warnings)


def test_speech_the_text_leaves_out_is_reported(demo: Transcriber) -> None:
    audio, _ = speak(SENTENCES[1].split(), 2)
    result = demo.align(audio, "the quick brown fox", TranscribeOptions(sample_rate=16000))
    assert any("speech after the text's last word" in w for w in result.warnings)


def test_cli_align(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audio, _ = speak(SENTENCES[0].split(), 3)
    wav = tmp_path / "talk.wav"
    _write_wav(wav, audio, 16000)
    (tmp_path / "talk.txt").write_text("Never go to bed mad!\n")
    code = main(["align", str(wav), str(tmp_path / "talk.txt"), "-m", BUNDLED_MODEL, "-f", "tsv"])
    rows = capsys.readouterr().out.splitlines()
    assert code == 0 and rows[0] == "start\tend\tconfidence\ttext"
    assert [r.split("\t")[3] for r in rows[1:]] == ["Never", "go", "to", "bed", "mad!"]
    out = tmp_path / "out"
    args = ["align", str(wav), str(tmp_path / "talk.txt"), "-m", BUNDLED_MODEL, "-f", "srt,json"]
    assert main([*args, "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["talk.json", "talk.srt"]


def test_multilingual_models_align_in_the_language_given(tmp_path: Path) -> None:
    from test_languages import FRENCH
    from tiny_models import VOCAB as ENGLISH
    from tiny_models import make_multilingual_model

    directory = make_multilingual_model(tmp_path / "mms", {"eng": ENGLISH, "fra": FRENCH})
    transcriber = Transcriber(str(directory))
    audio = noisy_tone(2.0, 16000)
    french = transcriber.align(
        audio, "ÉCOLE À", TranscribeOptions(sample_rate=16000, language="fra")
    )
    english = transcriber.align(audio, "ÉCOLE À", TranscribeOptions(sample_rate=16000))
    assert french.language == "fra" and english.language == "eng"
    assert len(french.words) == len(english.words) == 2


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
