"""Long audio as overlapping model windows, and the frames each window contributes.

Two ways to cut long audio into pieces the model runs on, both starting on multiples of the
model's frame hop (samples per logit frame), so frame j of a piece starting at sample s is
frame s / hop + j of the whole file:

- strided windows: each keeps its frames except `stride` frames of context on each side
  (none before the first window, none after the last), so kept frames tile the file once;
- speech cuts: stretches of speech found by a voice activity detector, cut at pauses, each
  kept whole; the silence between them never reaches the model and decodes as blank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import OptionsError
from .options import MIN_PAUSE_S, MIN_SEGMENT_S, SPEECH_PAD_S, check_window
from .vad import SPEECH_PROBABILITY


@dataclass(frozen=True)
class Window:
    samples: np.ndarray
    first_frame: int  # index in the whole file of the window's frame 0
    is_first: bool
    is_last: bool


@dataclass(frozen=True)
class WindowPlan:
    """The transformers ASR pipeline's geometry: windows of k = window/hop nominal frames
    step by k - 2*stride frames and keep nominal frames [stride, k - stride). A model makes
    a few frames fewer than k of a window (wav2vec2: k - 1, its 400-sample receptive
    field), so fewer than `stride` real frames are dropped on the right: `right_frames`."""

    window_samples: int  # a multiple of hop
    step_samples: int  # a multiple of hop
    stride_frames: int  # context frames dropped on the left of every window but the first
    right_frames: int  # frames dropped on the right of every window but the last


def plan_windows(
    rate: int,
    hop: int,
    frames_for: Callable[[int], int],
    chunk_s: float,
    stride_s: float,
    min_samples: int = 1,
) -> WindowPlan:
    """Window geometry; `frames_for(n)` is how many frames the model makes of n samples,
    `min_samples` the fewest that make one (its receptive field)."""
    window = max(1, round(chunk_s * rate / hop)) * hop
    stride_frames = max(1, round(stride_s * rate / hop))
    step_frames = window // hop - 2 * stride_frames
    right_frames = frames_for(window) - (window // hop - stride_frames)
    if step_frames < 1:
        raise OptionsError(
            f"a {chunk_s} s chunk leaves no frames between its {stride_s} s strides; "
            "use a chunk longer than twice the stride, e.g. chunk 30 s with stride 5 s"
        )
    check_window(chunk_s, stride_s)
    if 2 * stride_frames * hop < min_samples or right_frames < 0:
        raise OptionsError(
            f"stride {stride_s} s is shorter than the model's receptive "
            f"field ({min_samples / rate:.3f} s); use a longer stride"
        )
    return WindowPlan(window, step_frames * hop, stride_frames, right_frames)


def windows(blocks: Iterable[np.ndarray], plan: WindowPlan, hop: int) -> Iterator[Window]:
    """Cut a stream of mono blocks into windows, holding at most one window plus a block."""
    buffer = np.zeros(0, dtype=np.float32)
    start = 0  # sample index of buffer[0]
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while len(buffer) > plan.window_samples:
            yield Window(buffer[: plan.window_samples], start // hop, start == 0, False)
            buffer = buffer[plan.step_samples :]
            start += plan.step_samples
    if len(buffer) or start == 0:
        yield Window(buffer, start // hop, start == 0, True)


@dataclass(frozen=True)
class Piece:
    """Audio the model runs on, and which of its frames the stitched whole keeps."""

    samples: np.ndarray
    first_frame: int  # index in the whole file of the piece's frame 0
    drop_left: int = 0  # context frames, dropped after the model
    drop_right: int = 0
    ends_in_pause: bool = False  # nothing follows before a pause: its last word is finished

    def kept(self, n_frames: int) -> slice:
        return slice(self.drop_left, max(self.drop_left, n_frames - self.drop_right))


def window_pieces(blocks: Iterable[np.ndarray], plan: WindowPlan, hop: int) -> Iterator[Piece]:
    """Strided windows as pieces: each keeps its frames but the stride on inner sides."""
    for w in windows(blocks, plan, hop):
        left = 0 if w.is_first else plan.stride_frames
        right = 0 if w.is_last else plan.right_frames
        yield Piece(w.samples, w.first_frame, left, right, ends_in_pause=w.is_last)


@dataclass(frozen=True)
class CutPlan:
    max_samples: int  # no cut is longer (attention cost, memory)
    pad_samples: int  # audio kept on each side of detected speech, so no word edge is lost
    min_gap_samples: int  # pauses shorter than this stay inside a cut
    hop: int
    threshold: float = SPEECH_PROBABILITY  # speech starts at this probability...
    release: float = 0.35  # ...and goes on until it falls below this one


def plan_cuts(
    rate: int,
    hop: int,
    max_s: float,
    pad_s: float = SPEECH_PAD_S,
    min_gap_s: float = MIN_PAUSE_S,
) -> CutPlan:
    """Cut geometry; a max_s under MIN_SEGMENT_S (a model asking for short windows) is
    raised to it, so that every cut can hold a pause to split at."""
    max_s = max(max_s, MIN_SEGMENT_S)
    # a cut's padding after speech must be audio already heard when the pause ends it
    assert 0 <= pad_s <= min_gap_s < max_s / 2
    return CutPlan(
        round(max_s * rate / hop) * hop, round(pad_s * rate), round(min_gap_s * rate), hop
    )


def speech_cuts(
    scored: Iterable[tuple[np.ndarray, np.ndarray]], plan: CutPlan, rate: int, frame_s: float
) -> Iterator[Piece]:
    """Cut a stream of (mono block, speech probability per VAD frame) into speech cuts.

    Speech is padded on both sides; pauses shorter than `min_gap` stay inside a cut; a
    cut about to pass `max_samples` is split at its least speech-like frame in its second
    half. Silence between cuts never reaches the model. Holds one cut plus a block.
    """
    cutter = _Cutter(plan, rate, frame_s)
    for block, probs in scored:
        yield from cutter.feed(block, probs)
    yield from cutter.finish()


class _Cutter:
    def __init__(self, plan: CutPlan, rate: int, frame_s: float) -> None:
        self.plan, self.rate, self.frame_s = plan, rate, frame_s
        self.buffer = np.zeros(0, np.float32)
        self.buffer_start = 0  # sample index of buffer[0]
        self.received = 0
        self.frames = 0  # VAD frames seen
        self.in_speech = False
        self.start: int | None = None  # first sample of the open cut
        self.speech_end = 0  # one past the last speech frame
        self.done = 0  # end of the last cut, rounded up to the hop
        self.scores: list[tuple[int, float]] = []  # (frame start, probability) in the open cut

    def feed(self, block: np.ndarray, probs: np.ndarray) -> Iterator[Piece]:
        self.buffer = np.concatenate([self.buffer, block])
        self.received += len(block)
        for prob in probs:
            start, end = self._sample(self.frames), self._sample(self.frames + 1)
            self.frames += 1
            yield from self._frame(start, min(end, self.received), float(prob))
        self._trim()

    def finish(self) -> Iterator[Piece]:
        if self.start is not None:
            yield from self._close()

    def _frame(self, start: int, end: int, prob: float) -> Iterator[Piece]:
        plan = self.plan
        self.in_speech = prob >= (plan.release if self.in_speech else plan.threshold)
        if self.in_speech:
            if self.start is None:
                self.start = max(_floor(start - plan.pad_samples, plan.hop), self.done)
                self.scores = []
            self.speech_end = end
        if self.start is None:
            return
        self.scores.append((start, prob))
        if not self.in_speech and end - self.speech_end >= plan.min_gap_samples:
            yield from self._close()
        elif end - self.start >= plan.max_samples - (end - start):
            at = self._pause_point()
            yield self._emit(at)
            self.start = at
            self.scores = [s for s in self.scores if s[0] >= at]

    def _close(self) -> Iterator[Piece]:
        """End the open cut after its last speech and padding. What a split inside a
        pause left open after the speech is silence only: dropped."""
        assert self.start is not None
        if self.speech_end + self.plan.pad_samples > self.start:
            yield self._emit(self.speech_end + self.plan.pad_samples, in_pause=True)
        self.start = None

    def _pause_point(self) -> int:
        """The least speech-like frame in the open cut's second half, on the hop grid."""
        assert self.start is not None
        half = self.start + self.plan.max_samples // 2
        frame, _ = min((s for s in self.scores if s[0] >= half), key=lambda s: s[1])
        return max(_floor(frame, self.plan.hop), self.start + self.plan.hop)

    def _emit(self, end: int, in_pause: bool = False) -> Piece:
        assert self.start is not None
        end = min(end, self.received)
        cut = Piece(
            self.buffer[self.start - self.buffer_start : end - self.buffer_start].copy(),
            self.start // self.plan.hop,
            ends_in_pause=in_pause,
        )
        self.done = -(-end // self.plan.hop) * self.plan.hop
        self.start = None
        return cut

    def _trim(self) -> None:
        keep = _floor(self._sample(self.frames) - self.plan.pad_samples, self.plan.hop)
        if self.start is not None:
            keep = min(keep, self.start)
        self.buffer = self.buffer[keep - self.buffer_start :]
        self.buffer_start = keep

    def _sample(self, frame: int) -> int:
        return round(frame * self.frame_s * self.rate)


def _floor(sample: int, hop: int) -> int:
    return max(sample, 0) // hop * hop


def batches_by_length(lengths: Sequence[int], size: int, may_pad: bool) -> list[list[int]]:
    """Indices of `lengths` in batches of at most `size`, similar lengths together (least
    padding). Without `may_pad` only equal lengths share a batch."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        last = batches[-1] if batches else None
        if last and len(last) < size and (may_pad or lengths[last[0]] == lengths[i]):
            last.append(i)
        else:
            batches.append([i])
    return batches


class Stitcher:
    """One input's frame decisions, gathered piece by piece (pieces arrive in order).

    Frames between pieces are silence the model never saw: blank, with a word delimiter
    in the middle, since no word goes on across a pause."""

    def __init__(self, hop: int, blank: int, delimiter: int | None) -> None:
        self.hop, self.blank, self.delimiter = hop, blank, delimiter
        self.ids: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.done = 0  # frames decided so far
        self.taken = 0  # frames handed out by take(); ids and probs start there
        self.heard = 0  # samples up to the end of the last piece

    def take(self, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Hand out the frames from `taken` up to `upto` and forget them (live streams
        hand out words as they finish, in bounded memory)."""
        ids, probs = self.arrays()
        cut = upto - self.taken
        self.ids, self.probs = [ids[cut:]], [probs[cut:]]
        self.taken = upto
        return ids[:cut], probs[:cut]

    def add(self, piece: Piece, decision: tuple[np.ndarray, np.ndarray]) -> None:
        path, prob = decision
        keep = piece.kept(len(path))
        first = piece.first_frame + keep.start
        paused = piece.first_frame * self.hop > self.heard
        self.ids += [self._silence(first - self.done, paused), path[keep]]
        self.probs += [np.ones(first - self.done, np.float32), prob[keep]]
        self.done = first + len(path[keep])
        self.heard = piece.first_frame * self.hop + len(piece.samples)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Token id and its probability for every frame decided (and not taken) so far."""
        if not self.ids:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(self.ids), np.concatenate(self.probs)

    def _silence(self, n_frames: int, word_break: bool) -> np.ndarray:
        ids = np.full(n_frames, self.blank)
        if word_break and n_frames and self.delimiter is not None:
            ids[n_frames // 2] = self.delimiter
        return ids


class LogProbStitcher:
    """One input's log-probabilities (frames x vocabulary), gathered piece by piece, for
    decoders that need every frame's distribution (forced alignment). Frames between
    pieces are silence: certain blank."""

    def __init__(self, hop: int, blank: int, vocab_size: int) -> None:
        self.hop, self.blank, self.vocab_size = hop, blank, vocab_size
        self.parts: list[np.ndarray] = []
        self.done = 0
        self.heard = 0

    def add(self, piece: Piece, log_probs: np.ndarray) -> None:
        keep = piece.kept(len(log_probs))
        first = piece.first_frame + keep.start
        self.parts += [self.silence(first - self.done), log_probs[keep]]
        self.done = first + len(log_probs[keep])
        self.heard = piece.first_frame * self.hop + len(piece.samples)

    def silence(self, n_frames: int) -> np.ndarray:
        rows = np.full((max(n_frames, 0), self.vocab_size), SILENT_LOG_PROB, np.float32)
        rows[:, self.blank] = 0.0
        return rows

    def array(self, n_frames: int) -> np.ndarray:
        """The first n_frames frames; silence after the last piece up to there."""
        return np.concatenate([*self.parts, self.silence(n_frames - self.done)])[:n_frames]


SILENT_LOG_PROB = -1e4  # what a frame of silence gives any token but blank
