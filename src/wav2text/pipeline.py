"""Orchestration only: source -> audio -> rate -> segments -> model -> ctc -> Transcript."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .audio import DecodedAudio, Source, audio_info, open_with, to_mono
from .ctc import best_path, merge_tokens, words_from_spans
from .errors import AudioTooShortError, EmptyAudioError, OptionsError
from .estimate import RateCheck, RateEstimate, check_stream, estimate_stream
from .lm import load_beam_search
from .model import CTCModel, load_model
from .options import (
    MIN_PAUSE_S,
    MIN_SEGMENT_S,
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
T = TypeVar("T")
LOOKAHEAD_BATCHES = 4  # pieces are grouped by length among this many batches' worth


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


class Transcriber:
    """Loads a CTC model once and transcribes any number of inputs with it."""

    def __init__(self, model: ModelOptions | str | Path | None = None) -> None:
        options = model if isinstance(model, ModelOptions) else ModelOptions(model=model)
        self.model: CTCModel = load_model(options)
        self.beam = load_beam_search(options, self.model)  # None: greedy decoding

    @property
    def decoder(self) -> str:
        """How log-probabilities become text: "greedy" or the beam search and its LM."""
        return self.beam.description if self.beam else "greedy"

    def transcribe(self, source: Source, options: TranscribeOptions | None = None) -> Transcript:
        (outcome,) = self.transcribe_many([source], options)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def transcribe_many(
        self, sources: Iterable[Source], options: TranscribeOptions | None = None
    ) -> Iterator[Transcript | Exception]:
        """One outcome per source, in order: its Transcript, or the exception that stopped
        it (the others carry on). Segments of consecutive inputs share forward passes when
        options.batch_size > 1, so many short files fill batches too."""
        options = options or TranscribeOptions()
        self.model.use_language(options.language)  # None: the language it was loaded in
        if self.beam:
            self.beam.check_vocabulary(self.model.vocab)
        jobs: dict[int, _Job] = {}
        failures: dict[int, Exception] = {}
        tagged = self._tagged_pieces(sources, options, jobs, failures)
        for (k, piece), decision in self._decide(tagged, options.batch_size):
            if piece is not None and decision is not None:
                jobs[k].frames.add(piece, *decision)
                continue
            outcome = failures.pop(k) if k in failures else self._finish(jobs[k], options)
            jobs.pop(k, None)
            yield outcome
            # While this iterator waited, another on the same model may have switched it.
            self.model.use_language(options.language)

    def _tagged_pieces(
        self,
        sources: Iterable[Source],
        options: TranscribeOptions,
        jobs: dict[int, _Job],
        failures: dict[int, Exception],
    ) -> Iterator[tuple[int, Piece | None]]:
        """Every source's pieces tagged with its index, then (index, None) when it ends;
        a source that fails records its exception and ends there."""
        for k, source in enumerate(sources):
            try:
                jobs[k] = self._start(source, options)
                for piece in jobs[k].pieces:
                    yield k, piece
            except Exception as err:  # handed to the caller as this input's outcome
                failures[k] = err
            yield k, None

    def _start(self, source: Source, options: TranscribeOptions) -> _Job:
        audio = open_with(source, options)
        estimate, check = None, None
        if options.sample_rate == "auto":
            audio, estimate = estimate_stream(
                audio, self.model, options.rate_candidates, options.rate_confidence
            )
        elif options.check_rate and audio.rate_source == "header":
            audio, check = check_stream(audio, self.model)
        counter = _SampleCounter(to_mono(audio, options.channel))
        at_model_rate = prefetch(resample_stream(counter, audio.rate, self.model.sampling_rate))
        pieces = self.pieces(at_model_rate, options)
        return _Job(audio, counter, pieces, _Frames(self.model), estimate, check)

    def _finish(self, job: _Job, options: TranscribeOptions) -> Transcript:
        ids, probs = job.frames.arrays()
        spans = merge_tokens(ids, probs, self.model.vocab.blank)
        words = words_from_spans(
            spans, self.model.vocab, self.model.frame_seconds, options.char_timestamps
        )
        duration = job.counter.count / job.audio.rate
        estimate = job.estimate
        info = audio_info(
            job.audio,
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
            warnings=tuple(
                w for w in [job.check and job.check.warning(), _no_speech(job, options)] if w
            ),
            decoder=self.decoder,
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
        # (a model asking for windows under 2 s still gets segments that can hold a pause)
        max_s = max(options.max_segment_s or self.model.window_s[0], MIN_SEGMENT_S)
        rate, hop = self.model.sampling_rate, self.model.hop
        return plan_cuts(rate, hop, max_s, SPEECH_PAD_S, MIN_PAUSE_S)

    def pieces(self, blocks: Iterable[np.ndarray], options: TranscribeOptions) -> Iterator[Piece]:
        """The audio the model runs on: speech cuts or strided windows."""
        counted = _SampleCounter(blocks)
        rate = self.model.sampling_rate
        if options.segmentation == "vad":
            plan = self.cut_plan(options)
            # VAD scores on its own thread (onnxruntime releases the GIL), beside the model
            scored = prefetch(speech_probabilities(counted, rate))
            yield from speech_cuts(scored, plan, rate, VAD_FRAME_S)
        else:
            yield from window_pieces(counted, self.window_plan(options), self.model.hop)
        self._check_length(counted.count)

    def _decide(
        self, items: Iterable[tuple[int, Piece | None]], batch_size: int
    ) -> Iterator[tuple[tuple[int, Piece | None], tuple[np.ndarray, np.ndarray] | None]]:
        """Each item with its piece's frame decisions, in order; forward passes batched
        over pieces of similar length (end-of-input markers pass through undecided)."""
        for group in _groups(items, batch_size * LOOKAHEAD_BATCHES):
            audible = [
                (i, p)
                for i, (_, p) in enumerate(group)
                if p is not None and _audible(p.samples, self.model)
            ]
            decisions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            lengths = [len(p.samples) for _, p in audible]
            decode = self.beam or best_path
            for batch in batches_by_length(lengths, batch_size, self.model.pads_safely):
                chosen = [audible[b] for b in batch]
                outputs = self.model.log_probs_batch([p.samples for _, p in chosen])
                decisions.update(zip([i for i, _ in chosen], map(decode, outputs), strict=True))
            for i, (k, piece) in enumerate(group):
                if piece is None:
                    yield (k, piece), None
                else:
                    yield (k, piece), decisions.get(i) or self._blank(len(piece.samples))

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


def _no_speech(job: _Job, options: TranscribeOptions) -> str | None:
    """An empty transcript of audible audio because VAD heard no speech says so."""
    if options.segmentation != "vad" or job.frames.heard or job.counter.peak < SILENCE_PEAK:
        return None
    return (
        "voice activity detection found no speech in audio peaking at "
        f"{20 * np.log10(job.counter.peak):.0f} dBFS; if it holds speech (very quiet, or "
        "under music or noise), transcribe with segmentation='window' (--segmentation window)"
    )


class _Frames:
    """One input's frame decisions, gathered piece by piece (pieces arrive in order).

    Frames between pieces are silence the model never saw: blank, with a word delimiter
    in the middle, since no word goes on across a pause."""

    def __init__(self, model: CTCModel) -> None:
        self.model = model
        self.ids: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.done = 0  # frames decided so far
        self.heard = 0  # samples up to the end of the last piece

    def add(self, piece: Piece, path: np.ndarray, prob: np.ndarray) -> None:
        keep = piece.kept(len(path))
        first = piece.first_frame + keep.start
        paused = piece.first_frame * self.model.hop > self.heard
        self.ids += [self._silence(first - self.done, paused), path[keep]]
        self.probs += [np.ones(first - self.done, np.float32), prob[keep]]
        self.done = first + len(path[keep])
        self.heard = piece.first_frame * self.model.hop + len(piece.samples)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.ids:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(self.ids), np.concatenate(self.probs)

    def _silence(self, n_frames: int, word_break: bool) -> np.ndarray:
        ids = np.full(n_frames, self.model.vocab.blank)
        if word_break and n_frames and self.model.vocab.delimiter is not None:
            ids[n_frames // 2] = self.model.vocab.delimiter
        return ids


@dataclass
class _Job:
    """One input on its way through the pipeline."""

    audio: DecodedAudio
    counter: _SampleCounter
    pieces: Iterator[Piece]
    frames: _Frames
    estimate: RateEstimate | None
    check: RateCheck | None


class _SampleCounter:
    """Passes blocks through, counting samples and the peak (known at the end)."""

    def __init__(self, blocks: Iterable[np.ndarray]) -> None:
        self._blocks = blocks
        self.count = 0
        self.peak = 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        for block in self._blocks:
            self.count += len(block)
            if len(block):
                self.peak = max(self.peak, float(np.abs(block).max()))
            yield block
