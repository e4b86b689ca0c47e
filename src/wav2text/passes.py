"""Forward passes over the pipeline's stream: each piece's frames decided, in batches.

The stream carries `(job, piece)` and `(job, END)` (wav2text.job). `decided` passes it on
with each piece's decision added to its job, running the model over pieces of similar
length together; an exception in a pass lands on the job whose piece raised it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .job import Frames, Item, Job
from .model import CTCModel, Language
from .segments import LogProbStitcher, Piece, Stitcher, batches_by_length

# Windows whose peak stays below -70 dBFS hold no audible sound; normalising them would
# blow their noise floor up to full scale and invite invented words, so they decode as blank.
SILENCE_PEAK = 10 ** (-70 / 20)
LOOKAHEAD_BATCHES = 4  # pieces are grouped by length among this many batches' worth
Decision = tuple[np.ndarray, np.ndarray]  # a piece's token id and probability per frame
T = TypeVar("T")


@dataclass(frozen=True)
class Mode:
    """What becomes of the model's log-probabilities: a job's frames, each piece's
    decision (as `decode` makes it), and a silent piece's decision for n frames."""

    frames: Callable[[], Frames]
    decode: Callable[[np.ndarray], Any]
    silence: Callable[[int], Any]
    language: Language  # the call's, passed to every forward pass


def decided(
    stream: Iterable[tuple[Job, Item]], model: CTCModel, batch_size: int, mode: Mode
) -> Iterator[tuple[Job, Item]]:
    """The stream, each piece's frames added to its job before it passes on; forward
    passes batch pieces of similar length among a few batches' worth of the stream."""
    # one piece alone needs no company of its length: decided (and told) as it comes
    lookahead = batch_size * LOOKAHEAD_BATCHES if batch_size > 1 else 1
    for group in _groups(stream, lookahead):
        pieces = [
            (i, piece)
            for i, (job, piece) in enumerate(group)
            if isinstance(piece, Piece) and not job.failed
        ]
        decisions = decide([p for _, p in pieces], model, batch_size, mode)
        for (i, piece), decision in zip(pieces, decisions, strict=True):
            job = group[i][0]
            if isinstance(decision, Exception):
                job.fail(decision)
            elif not job.failed:
                job.stitcher.add(piece, decision)
        yield from group


def decide(
    pieces: list[Piece], model: CTCModel, batch_size: int, mode: Mode
) -> list[Any | Exception]:
    """Frame decisions for each piece (in order); silent ones are blank unheard."""
    decisions: list[Any | Exception] = [
        mode.silence(model.frames_for(len(p.samples))) for p in pieces
    ]
    audible = [i for i, p in enumerate(pieces) if _audible(p.samples, model)]
    lengths = [len(pieces[i].samples) for i in audible]
    for batch in batches_by_length(lengths, batch_size, model.pads_safely):
        chosen = [audible[b] for b in batch]
        outcomes = forward([pieces[i] for i in chosen], model, mode)
        for i, decision in zip(chosen, outcomes, strict=True):
            decisions[i] = decision
    return decisions


def forward(pieces: list[Piece], model: CTCModel, mode: Mode) -> list[Any | Exception]:
    """One forward pass and decoding over pieces; if it raises, each piece alone, so
    that the error lands on the input it belongs to (out of memory on one long piece,
    a model bug on one odd length) and the others' pieces are decided."""
    try:
        outputs = model.log_probs_batch([p.samples for p in pieces], mode.language.code)
        return [mode.decode(output) for output in outputs]
    except Exception as err:
        if len(pieces) == 1:
            return [err]
        return [forward([piece], model, mode)[0] for piece in pieces]


def _audible(samples: np.ndarray, model: CTCModel) -> bool:
    return len(samples) >= model.min_samples and float(np.abs(samples).max()) >= SILENCE_PEAK


def _groups(items: Iterable[T], size: int) -> Iterator[list[T]]:
    group: list[T] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def transcribing(
    model: CTCModel, language: Language, decode: Callable[[np.ndarray], Decision]
) -> Mode:
    """Each piece's frames decided (greedy or beam search) as soon as it is run."""
    vocab = language.vocab

    def blank(n_frames: int) -> Decision:
        return np.full(n_frames, vocab.blank), np.ones(n_frames, dtype=np.float32)

    return Mode(lambda: Stitcher(model.hop, vocab.blank, vocab.delimiter), decode, blank, language)


def aligning(model: CTCModel, language: Language) -> Mode:
    """Each piece's log-probabilities kept, for the aligner to read whole."""
    vocab, hop = language.vocab, model.hop
    width = model.output_size(language)  # the head's outputs: the vocabulary, or more

    def frames() -> LogProbStitcher:
        return LogProbStitcher(hop, vocab.blank, width)

    return Mode(frames, lambda log_probs: log_probs, frames().silence, language)
