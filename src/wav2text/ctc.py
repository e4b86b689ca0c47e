"""Greedy CTC decoding as pure functions over per-frame log-probabilities."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .results import Char, Word


@dataclass(frozen=True)
class Vocabulary:
    """What the decoder needs of a tokenizer: token texts and the special ids."""

    tokens: tuple[str, ...]  # index = token id
    blank: int
    delimiter: int | None  # the word separator ("|" in wav2vec2 vocabularies)
    lower: bool = False  # the tokenizer lowercases its output


def spell(word: str, vocab: Vocabulary, unaccent: bool = False) -> tuple[tuple[int, ...], str]:
    """A written word in the model's tokens, and the characters it cannot spell.

    Each character as written, else in the other case (base-960h spells in upper case, many
    LMs and texts in lower), else (`unaccent`: a transcript to align) without its accent
    (é -> E); punctuation and symbols are not spoken and are dropped silently. The one rule
    for the aligner's text, the LM's words and hotwords."""
    index = {t: i for i, t in enumerate(vocab.tokens) if len(t) == 1 and i != vocab.delimiter}
    tokens, dropped = [], ""
    for char in word:
        bare = (
            "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            if unaccent
            else char
        )
        token = next(
            (index[c] for c in (char, char.upper(), char.lower(), bare, bare.upper(),
                                bare.lower()) if c in index),
            None,
        )  # fmt: skip
        if token is not None:
            tokens.append(token)
        elif not unicodedata.category(char).startswith(("P", "S")):
            dropped += char
    return tuple(tokens), dropped


@dataclass(frozen=True)
class TokenSpan:
    token: int
    start: int  # first frame
    end: int  # one past the last frame
    score: float  # mean probability of the token over its frames


def best_path(log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most likely token of each frame and its probability."""
    ids = log_probs.argmax(axis=-1)
    probs = np.exp(np.take_along_axis(log_probs, ids[:, None], axis=-1)[:, 0])
    return ids, probs.astype(np.float32)


def merge_tokens(ids: np.ndarray, probs: np.ndarray, blank: int) -> list[TokenSpan]:
    """Collapse runs of the same token and drop blanks: a CTC path becomes token spans."""
    if len(ids) == 0:
        return []
    starts = np.flatnonzero(np.diff(ids, prepend=-1))
    ends = np.append(starts[1:], len(ids))
    scores = np.add.reduceat(probs.astype(np.float64), starts) / (ends - starts)
    return [
        TokenSpan(int(ids[s]), int(s), int(e), float(score))
        for s, e, score in zip(starts, ends, scores, strict=True)
        if ids[s] != blank
    ]


def words_of(
    ids: np.ndarray,
    probs: np.ndarray,
    vocab: Vocabulary,
    frame_s: float,
    with_chars: bool = False,
    first_frame: int = 0,
) -> tuple[Word, ...]:
    """A frame path's words, timed as if `ids[0]` were frame `first_frame` of the input."""
    spans = [
        TokenSpan(s.token, s.start + first_frame, s.end + first_frame, s.score)
        for s in merge_tokens(ids, probs, vocab.blank)
    ]
    return words_from_spans(spans, vocab, frame_s, with_chars)


def words_from_spans(
    spans: Sequence[TokenSpan], vocab: Vocabulary, frame_s: float, with_chars: bool = False
) -> tuple[Word, ...]:
    """Split token spans into words at the delimiter; times in seconds."""
    words: list[Word] = []
    current: list[TokenSpan] = []
    for span in [*spans, None]:
        if span is None or span.token == vocab.delimiter:
            if current:
                words.append(_word(current, vocab, frame_s, with_chars))
            current = []
        else:
            current.append(span)
    return tuple(words)


def _word(spans: list[TokenSpan], vocab: Vocabulary, frame_s: float, with_chars: bool) -> Word:
    texts = [_text(vocab, s.token) for s in spans]
    chars = tuple(
        Char(t, s.start * frame_s, s.end * frame_s, s.score)
        for t, s in zip(texts, spans, strict=True)
    )
    return Word(
        text="".join(texts),
        start=spans[0].start * frame_s,
        end=spans[-1].end * frame_s,
        confidence=float(np.mean([s.score for s in spans])),
        chars=chars if with_chars else None,
    )


def _text(vocab: Vocabulary, token: int) -> str:
    text = vocab.tokens[token] if token < len(vocab.tokens) else ""
    return text.lower() if vocab.lower else text
