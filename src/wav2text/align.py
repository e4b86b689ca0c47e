"""Forced alignment: a known transcript's words placed in time on a CTC model's frames.

One more decoder over the log-probabilities the pipeline already makes. Written here rather
than taken from torchaudio (`forced_align` needs a torchaudio built for the pinned torch,
which does not install beside it) or ctc-segmentation (its table is frames x characters:
an hour-long chapter would need tens of GB): a Viterbi pass over the CTC topology, window by
window, so memory is bounded by the window, whatever the length of the audio or the text.

Text is normalised to the model's vocabulary (case; accents stripped where the bare letter
exists; punctuation dropped); the original words are kept for the output. A word none of
whose characters the model can spell (digits, another script) is placed where it falls
between its neighbours with no time of its own, and reported. The word delimiter is not a
letter: aligned, it counts as blank.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .ctc import Vocabulary, spell
from .errors import OptionsError
from .results import Word

WINDOW_FRAMES = 1500  # frames aligned at once (30 s at 20 ms): memory is bounded by this
COMMIT_MARGIN_FRAMES = 250  # words ending this close to a window's end wait for the next
MAX_GROWTH = 8  # a window with no word finished grows to at most this many windows
# A text the audio hardly holds: its words' mean score (each word's mean posterior on the
# path) below this. Chosen by benchmarks/align_low_score.py: per word, a score below 0.2
# flagged the right text of 82 % of the real clips (short words score low where the model
# mishears them); the mean below 0.2 flagged none of them, nor of 100 seen-voice utterances.
LOW_MEAN_SCORE = 0.2
_NEG = np.float32(-1e30)


@dataclass(frozen=True)
class RefWord:
    text: str  # as the transcript writes it
    tokens: tuple[int, ...]  # what the model can spell of it
    dropped: str  # characters left out (neither in the vocabulary nor punctuation)


@dataclass(frozen=True)
class Alignment:
    words: tuple[Word, ...]
    warnings: tuple[str, ...]


def reference(text: str, vocab: Vocabulary) -> list[RefWord]:
    """The transcript's words, each spelled with the model's tokens (ctc.spell)."""
    words = []
    for raw in text.split():
        if all(unicodedata.category(c).startswith(("P", "S")) for c in raw):
            continue  # "--", "&", "…": punctuation between words, not a word to place
        tokens, dropped = spell(raw, vocab, unaccent=True)
        words.append(RefWord(raw, tokens, dropped))
    if not any(w.tokens for w in words):
        raise OptionsError(
            "the text holds no word the model can spell; check that it is the transcript "
            "of this audio, in the model's language and script"
        )
    return words


def align(
    log_probs: np.ndarray,
    words: Sequence[RefWord],
    vocab: Vocabulary,
    frame_s: float,
    window: int = WINDOW_FRAMES,
) -> Alignment:
    """Each word's frames on the best CTC path through `log_probs` (frames x vocab) that
    spells the words in order. Windows of `window` frames; the words a window ends with
    are aligned again at the start of the next, so none is cut at a window's edge."""
    spelled = [i for i, w in enumerate(words) if w.tokens]
    margin = min(COMMIT_MARGIN_FRAMES, window // 4)
    spans: dict[int, tuple[int, int, float]] = {}
    start, k, size = 0, 0, window  # the next frame, the next spelled word, this window's size
    while k < len(spelled):
        end = min(start + size, len(log_probs))
        last = end == len(log_probs)
        todo = _fitting([words[i] for i in spelled[k:]], min(window, end - start))
        everything = len(todo) == len(spelled) - k
        placed = _window(log_probs[start:end], todo, vocab, closed=last and everything)
        keep = placed if last else [p for p in placed if p[1] <= end - start - margin]
        if not keep:
            if last:
                break  # the rest of the text does not fit in what is left of the audio
            if size < MAX_GROWTH * window:  # nothing finished (music, a long pause)
                size *= 2
            else:  # audio the text does not cover: step over it
                start, size = end - margin, window
            continue
        for offset, (first, stop, score) in enumerate(keep):
            spans[spelled[k + offset]] = (start + first, start + stop, score)
        k += len(keep)
        if last and everything:
            break
        start, size = start + keep[-1][1], window
    return _result(words, spans, log_probs, vocab, frame_s)


def _window(
    log_probs: np.ndarray, words: Sequence[RefWord], vocab: Vocabulary, closed: bool
) -> list[tuple[int, int, float]]:
    """(first frame, end frame, score) of the words this window's best path places
    completely, in order; `closed`: the path must spell every word."""
    frames = len(log_probs)
    if not frames:
        return []
    words = _fitting(words, frames)
    tokens = np.array([t for w in words for t in w.tokens], dtype=np.int64)
    closed = closed and len(tokens) <= frames
    owner = np.repeat(np.arange(len(words)), [len(w.tokens) for w in words])
    path = _viterbi(_emissions(log_probs, tokens, vocab), tokens, closed)
    token = np.where(path % 2 == 1, path // 2, -1)  # the token index each frame holds
    word = np.where(token >= 0, owner[np.clip(token, 0, len(tokens) - 1)], -1)
    placed: list[tuple[int, int, float]] = []
    for j in range(len(words)):
        held = np.flatnonzero(word == j)
        last_token = int(np.flatnonzero(owner == j)[-1])
        if not len(held) or token[held[-1]] != last_token:
            break  # the path stops inside this word: it belongs to the next window
        if held[-1] == frames - 1 and not closed:
            break  # it may go on past the window
        probs = np.exp(log_probs[held, tokens[token[held]]])
        placed.append((int(held[0]), int(held[-1]) + 1, float(probs.mean())))
    return placed


def _fitting(words: Sequence[RefWord], frames: int) -> list[RefWord]:
    """The first words whose tokens fit in `frames` (a token takes at least one frame)."""
    fitting: list[RefWord] = []
    count = 0
    for word in words:
        count += len(word.tokens)
        if fitting and count > frames:
            break
        fitting.append(word)
    return fitting


def _emissions(log_probs: np.ndarray, tokens: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """(frames, 2L+1) log-probability of each CTC state: blank states take the blank or
    the word delimiter, whichever is likelier; odd states their token."""
    blank = log_probs[:, vocab.blank]
    if vocab.delimiter is not None:
        blank = np.maximum(blank, log_probs[:, vocab.delimiter])
    states = np.empty((len(log_probs), 2 * len(tokens) + 1), dtype=np.float32)
    states[:, 0::2] = blank[:, None]
    states[:, 1::2] = log_probs[:, tokens]
    return states


def _viterbi(emissions: np.ndarray, tokens: np.ndarray, closed: bool) -> np.ndarray:
    """The best state per frame. States: blank, token 0, blank, token 1, ..., blank."""
    frames, n_states = emissions.shape
    skip_ok = np.zeros(n_states, dtype=bool)  # from s-2: a token differing from the last
    skip_ok[3::2] = tokens[1:] != tokens[:-1]
    back = np.zeros((frames, n_states), dtype=np.int8)
    score = np.full(n_states, _NEG, dtype=np.float32)
    score[:2] = emissions[0, :2]
    for t in range(1, frames):
        step = np.concatenate([[_NEG], score[:-1]])
        skip = np.where(skip_ok, np.concatenate([[_NEG, _NEG], score[:-2]]), _NEG)
        choice = np.argmax(np.stack([score, step, skip]), axis=0)
        score = np.choose(choice, [score, step, skip]) + emissions[t]
        back[t] = choice
    ends = n_states - 2 + np.argmax(score[-2:]) if closed else int(np.argmax(score))
    path = np.empty(frames, dtype=np.int64)
    path[-1] = ends
    for t in range(frames - 1, 0, -1):
        path[t - 1] = path[t] - back[t, path[t]]
    return path


def _result(
    words: Sequence[RefWord],
    spans: dict[int, tuple[int, int, float]],
    log_probs: np.ndarray,
    vocab: Vocabulary,
    frame_s: float,
) -> Alignment:
    out, unplaced, last_end = [], [], 0.0
    for i, word in enumerate(words):
        if i in spans:
            first, stop, score = spans[i]
            last_end = stop * frame_s
            out.append(Word(word.text, first * frame_s, last_end, score))
        else:
            unplaced.append(word.text)
            out.append(Word(word.text, last_end, last_end, 0.0))
    return Alignment(tuple(out), _warnings(words, out, unplaced, log_probs, vocab, frame_s))


def _warnings(
    words: Sequence[RefWord],
    out: Sequence[Word],
    unplaced: list[str],
    log_probs: np.ndarray,
    vocab: Vocabulary,
    frame_s: float,
) -> tuple[str, ...]:
    said = []
    unspellable = [w.text for w in words if not w.tokens]
    missing = [w for w in unplaced if w not in unspellable]
    placed = [w for w in out if w.end > w.start]  # unplaced words take no time
    mean = float(np.mean([w.confidence for w in placed])) if placed else 1.0
    dropped = sorted({c for w in words if w.tokens for c in w.dropped})  # each said once
    if unspellable:
        numbers = any(c.isdigit() for w in unspellable for c in w)
        fix = "write numbers as words" if numbers else "write them in the model's alphabet"
        said.append(
            f"{len(unspellable)} word(s) hold nothing the model can spell ({_few(unspellable)}); "
            f"they are placed between their neighbours with no time of their own; {fix} to "
            "align them"
        )
    if dropped:
        said.append(f"characters the model cannot spell were left out: {''.join(dropped)}")
    if missing:
        said.append(
            f"{len(missing)} word(s) did not fit in the audio ({_few(missing)}): the text "
            "goes on past the end of the audio, or is not its transcript"
        )
    if mean < LOW_MEAN_SCORE:
        lowest = ", ".join(w.text for w in sorted(placed, key=lambda w: w.confidence)[:3])
        said.append(
            f"the audio hardly holds the text (its words score {mean:.2f} on average, below "
            f"{LOW_MEAN_SCORE}; lowest: {lowest}): is it the transcript of this audio?"
        )
    said += _uncovered(out, log_probs, vocab, frame_s)
    return tuple(said)


def _uncovered(
    out: Sequence[Word], log_probs: np.ndarray, vocab: Vocabulary, frame_s: float
) -> list[str]:
    """Speech the text does not cover: the model hears letters before the first word or
    after the last."""
    timed = [w for w in out if w.end > w.start]
    if not timed:
        return []
    heard = np.flatnonzero(_letters(log_probs, vocab) > 0.5)
    before = heard[heard * frame_s < timed[0].start - 1.0]
    after = heard[heard * frame_s > timed[-1].end + 1.0]
    said = []
    if len(before):
        said.append(
            f"the audio holds speech before the text's first word (at {before[0] * frame_s:.1f} s)"
        )
    if len(after):
        said.append(
            f"the audio holds speech after the text's last word (up to {after[-1] * frame_s:.1f} s)"
        )
    return said


def _letters(log_probs: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """Per frame, the probability of a letter (neither blank nor delimiter)."""
    probs = np.exp(log_probs)
    silent = probs[:, vocab.blank] + (
        probs[:, vocab.delimiter] if vocab.delimiter is not None else 0
    )
    return 1.0 - silent


def _few(names: Sequence[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
