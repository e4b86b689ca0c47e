"""Greedy CTC decoding on hand-built logits: exact spans, words, times, confidences."""

from __future__ import annotations

from itertools import groupby

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wav2text.ctc import Vocabulary, best_path, merge_tokens, words_from_spans

VOCAB = Vocabulary(tokens=("<pad>", "|", "A", "B", "C"), blank=0, delimiter=1)
FRAME_S = 0.02


def one_hot(path: list[int], p: float = 0.9, vocab: int = 5) -> np.ndarray:
    """Log-probabilities whose best token per frame is `path`, with probability p."""
    probs = np.full((len(path), vocab), (1 - p) / (vocab - 1))
    probs[np.arange(len(path)), path] = p
    return np.log(probs)


def decode(path: list[int], **kw: bool) -> tuple:
    ids, probs = best_path(one_hot(path))
    return words_from_spans(merge_tokens(ids, probs, VOCAB.blank), VOCAB, FRAME_S, **kw)


def test_repeats_collapse_blanks_separate_double_letters() -> None:
    # A A _ A B | _ C C  ->  "AAB" (blank splits the two A's), "C"
    words = decode([2, 2, 0, 2, 3, 1, 0, 4, 4])
    assert [w.text for w in words] == ["AAB", "C"]


def test_word_times_are_exact_frame_spans() -> None:
    words = decode([0, 0, 2, 3, 3, 1, 1, 0, 4, 0])
    assert [(w.start, w.end) for w in words] == [
        pytest.approx((2 * FRAME_S, 5 * FRAME_S)),
        pytest.approx((8 * FRAME_S, 9 * FRAME_S)),
    ]


def test_confidence_is_mean_token_probability() -> None:
    log_probs = one_hot([2, 3])
    log_probs[1] = np.log([0.1, 0.1, 0.1, 0.6, 0.1])
    ids, probs = best_path(log_probs)
    (word,) = words_from_spans(merge_tokens(ids, probs, 0), VOCAB, FRAME_S)
    assert word.confidence == pytest.approx((0.9 + 0.6) / 2)


def test_char_timestamps() -> None:
    (word,) = decode([2, 2, 0, 3], with_chars=True)
    assert word.chars is not None
    assert [(c.text, c.start, c.end) for c in word.chars] == [
        ("A", 0.0, pytest.approx(0.04)),
        ("B", pytest.approx(0.06), pytest.approx(0.08)),
    ]


def test_all_blank_and_empty_give_no_words() -> None:
    assert decode([0, 0, 0]) == ()
    assert decode([1, 0, 1]) == ()
    assert words_from_spans(merge_tokens(np.zeros(0, int), np.zeros(0), 0), VOCAB, FRAME_S) == ()


def test_lowercasing_tokenizer() -> None:
    vocab = Vocabulary(VOCAB.tokens, 0, 1, lower=True)
    ids, probs = best_path(one_hot([2, 3]))
    assert words_from_spans(merge_tokens(ids, probs, 0), vocab, FRAME_S)[0].text == "ab"


def reference_text(path: list[int]) -> str:
    """The transformers Wav2Vec2CTCTokenizer algorithm: group, drop blank, delimiter=space."""
    chars = [VOCAB.tokens[t] for t, _ in groupby(path) if t != VOCAB.blank]
    return " ".join("".join(" " if c == "|" else c for c in chars).split())


@given(st.lists(st.integers(0, 4), max_size=60))
def test_text_matches_tokenizer_algorithm(path: list[int]) -> None:
    assert " ".join(w.text for w in decode(path)) == reference_text(path)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=60))
def test_spans_tile_the_non_blank_frames(path: list[int]) -> None:
    ids = np.array(path)
    spans = merge_tokens(ids, np.ones(len(ids)), blank=0)
    covered = np.zeros(len(ids), bool)
    for span in spans:
        assert (ids[span.start : span.end] == span.token).all()
        covered[span.start : span.end] = True
    assert (covered == (ids != 0)).all()
