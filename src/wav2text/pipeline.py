"""Orchestration only: source -> audio -> rate -> windows -> model -> ctc -> Transcript."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .audio import Source, audio_info, open_with, to_mono
from .ctc import best_path, merge_tokens, words_from_spans
from .errors import AudioTooShortError, EmptyAudioError, OptionsError
from .estimate import check_stream, estimate_stream
from .model import CTCModel, load_model
from .options import (
    MIN_PAUSE_S,
    SPEECH_PAD_S,
    ModelOptions,
    TranscribeOptions,
    check_window,
)
from .prefetch import prefetch
from .rate import resample_stream
from .results import Transcript, segments_from_words
from .segments import (
    CutPlan,
    Piece,
    WindowPlan,
    batches_by_length,
    plan_cuts,
    plan_windows,
    speech_cuts,
    window_pieces,
)
from .vad import FRAME_S as VAD_FRAME_S
from .vad import speech_probabilities

# Windows whose peak stays below -70 dBFS hold no audible sound; normalising them would
# blow their noise floor up to full scale and invite invented words, so they decode as blank.
SILENCE_PEAK = 10 ** (-70 / 20)
LOOKAHEAD_BATCHES = 4  # pieces are grouped by length among this many batches' worth


def _audible(samples: np.ndarray, model: CTCModel) -> bool:
    return len(samples) >= model.min_samples and float(np.abs(samples).max()) >= SILENCE_PEAK


def _groups(items: Iterable[Piece], size: int) -> Iterator[list[Piece]]:
    group: list[Piece] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


class Transcriber:
    """Loads a CTC model once and transcribes any number of inputs with it."""

    def __init__(self, model: ModelOptions | str | Path | None = None) -> None:
        options = model if isinstance(model, ModelOptions) else ModelOptions(model=model)
        self.model: CTCModel = load_model(options)

    def transcribe(self, source: Source, options: TranscribeOptions | None = None) -> Transcript:
        options = options or TranscribeOptions()
        audio = open_with(source, options)
        estimate, check = None, None
        if options.sample_rate == "auto":
            audio, estimate = estimate_stream(audio, self.model, options.rate_candidates)
        elif options.check_rate and audio.rate_source == "header":
            audio, check = check_stream(audio, self.model)
        counter = _SampleCounter(to_mono(audio, options.channel))
        at_model_rate = prefetch(resample_stream(counter, audio.rate, self.model.sampling_rate))
        ids, probs = self._frame_decisions(at_model_rate, options)
        spans = merge_tokens(ids, probs, self.model.vocab.blank)
        words = words_from_spans(
            spans, self.model.vocab, self.model.frame_seconds, options.char_timestamps
        )
        duration = counter.count / audio.rate
        info = audio_info(
            audio,
            options.channel,
            self.model.sampling_rate,
            duration,
            rate_confidence=estimate.confidence if estimate else None,
            rate_runner_up=estimate.runner_up if estimate else None,
        )
        return Transcript(
            text=" ".join(w.text for w in words),
            words=words,
            segments=segments_from_words(words),
            duration=duration,
            audio=info,
            model=self.model.name,
            warnings=tuple(w for w in [check and check.warning()] if w),
        )

    def window_plan(self, options: TranscribeOptions) -> WindowPlan:
        """The window geometry this model runs with under these options."""
        model = self.model
        chunk_s = options.chunk_length_s or model.window_s[0]
        stride_s = options.stride_length_s or model.window_s[1]
        check_window(chunk_s, stride_s)
        plan = plan_windows(model.sampling_rate, model.hop, model.frames_for, chunk_s, stride_s)
        if 2 * plan.stride_frames * model.hop < model.min_samples:
            raise OptionsError(
                f"stride {stride_s} s is shorter than the model's receptive "
                f"field ({model.min_samples / model.sampling_rate:.3f} s); use a longer stride"
            )
        return plan

    def cut_plan(self, options: TranscribeOptions) -> CutPlan:
        """How speech is cut into segments under these options (segmentation "vad")."""
        max_s = options.max_segment_s or self.model.window_s[0]
        rate, hop = self.model.sampling_rate, self.model.hop
        return plan_cuts(rate, hop, max_s, SPEECH_PAD_S, MIN_PAUSE_S)

    def pieces(self, blocks: Iterable[np.ndarray], options: TranscribeOptions) -> Iterator[Piece]:
        """The audio the model runs on: speech cuts or strided windows."""
        counted = _SampleCounter(blocks)
        rate = self.model.sampling_rate
        if options.segmentation == "vad":
            plan = self.cut_plan(options)
            yield from speech_cuts(speech_probabilities(counted, rate), plan, rate, VAD_FRAME_S)
        else:
            yield from window_pieces(counted, self.window_plan(options), self.model.hop)
        self._check_length(counted.count)

    def _frame_decisions(
        self, blocks: Iterable[np.ndarray], options: TranscribeOptions
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best token and its probability for every frame up to the last piece's end.

        Frames between pieces are silence the model never saw: blank, with a word
        delimiter in the middle, since no word goes on across a pause."""
        ids: list[np.ndarray] = []
        probs: list[np.ndarray] = []
        done, heard = 0, 0  # frames decided so far; samples up to the end of the last piece
        for piece, (path, prob) in self._decide(self.pieces(blocks, options), options.batch_size):
            keep = piece.kept(len(path))
            first = piece.first_frame + keep.start
            paused = piece.first_frame * self.model.hop > heard
            ids.append(self._silence(first - done, paused))
            probs.append(np.ones(first - done, np.float32))
            ids.append(path[keep])
            probs.append(prob[keep])
            done = first + len(path[keep])
            heard = piece.first_frame * self.model.hop + len(piece.samples)
        if not ids:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(ids), np.concatenate(probs)

    def _silence(self, n_frames: int, word_break: bool) -> np.ndarray:
        ids = np.full(n_frames, self.model.vocab.blank)
        if word_break and n_frames and self.model.vocab.delimiter is not None:
            ids[n_frames // 2] = self.model.vocab.delimiter
        return ids

    def _decide(
        self, pieces: Iterable[Piece], batch_size: int
    ) -> Iterator[tuple[Piece, tuple[np.ndarray, np.ndarray]]]:
        """Each piece with its frame decisions, in order; forward passes in batches."""
        for group in _groups(pieces, batch_size * LOOKAHEAD_BATCHES):
            decisions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            audible = [i for i, p in enumerate(group) if _audible(p.samples, self.model)]
            for batch in batches_by_length(
                [len(group[i].samples) for i in audible], batch_size, self.model.pads_safely
            ):
                chosen = [audible[k] for k in batch]
                outputs = self.model.log_probs_batch([group[i].samples for i in chosen])
                decisions.update(zip(chosen, map(best_path, outputs), strict=True))
            for i, piece in enumerate(group):
                yield piece, decisions.get(i) or self._blank(len(piece.samples))

    def _blank(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.model.frames_for(n_samples)
        return np.full(n, self.model.vocab.blank), np.ones(n, dtype=np.float32)

    def _check_length(self, n_samples: int) -> None:
        """After the whole input was seen: is there enough audio to make one frame?"""
        if n_samples == 0:
            raise EmptyAudioError(
                "the audio holds no samples; check that the file or array is not empty"
            )
        if n_samples < self.model.min_samples:
            rate = self.model.sampling_rate
            raise AudioTooShortError(
                f"the audio lasts {n_samples / rate * 1000:.1f} ms; the model needs at least "
                f"{self.model.min_samples} samples at {rate} Hz "
                f"({self.model.min_samples / rate * 1000:.1f} ms) to make one frame, and no "
                "word fits in less; pass a longer recording"
            )


def transcribe(
    source: Source,
    options: TranscribeOptions | None = None,
    model: ModelOptions | str | Path | None = None,
) -> Transcript:
    """One-call convenience: load the model and transcribe one input."""
    return Transcriber(model).transcribe(source, options)


class _SampleCounter:
    """Passes blocks through, counting samples (the source's duration, known at the end)."""

    def __init__(self, blocks: Iterable[np.ndarray]) -> None:
        self._blocks = blocks
        self.count = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for block in self._blocks:
            self.count += len(block)
            yield block
