"""Orchestration only: source -> audio -> rate -> segments -> model -> ctc -> Transcript.

Each input becomes a Job (wav2text.job). Its pieces flow through one stream tagged with
their job, batched into forward passes across inputs; an exception on one input's path
(opening, decoding, a forward pass, decoding the frames) becomes that input's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .align import align as align_words
from .align import reference
from .audio import Source, audio_info, open_with, to_mono
from .blocks import SampleCounter, bounded, reported
from .channels import distinct_channels, merged
from .ctc import Vocabulary, best_path, words_of
from .errors import AudioTooShortError, EmptyAudioError, OptionsError
from .estimation.decide import decide_rate
from .job import END, Frames, Item, Job
from .lm import load_beam_search
from .model import CTCModel, Language, load_model
from .options import ModelOptions, TranscribeOptions
from .prefetch import prefetch
from .rate import resample_stream
from .results import Transcript, Word, segments_from_words
from .segments import (
    CutPlan,
    LogProbStitcher,
    Piece,
    Stitcher,
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


@dataclass(frozen=True)
class _Input:
    source: Source
    options: TranscribeOptions
    rewind: bool = False  # read again from its start (a file object, once per channel)


@dataclass(frozen=True)
class _Mode:
    """What becomes of the model's log-probabilities: a job's frames, each piece's
    decision (as `decode` makes it), and a silent piece's decision for n frames."""

    frames: Callable[[], Frames]
    decode: Callable[[np.ndarray], Any]
    silence: Callable[[int], Any]
    language: Language  # the call's, passed to every forward pass


ALIGNED = "forced alignment"  # Transcript.decoder of Transcriber.align
LOOKAHEAD_BATCHES = 4  # pieces are grouped by length among this many batches' worth
Decision = tuple[np.ndarray, np.ndarray]  # a piece's token id and probability per frame


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
        language = self.model.in_language(options.language)  # None: the one it was loaded in
        if self.beam:
            self.beam.check_vocabulary(language.vocab)
        if options.channels == "split":
            for source in sources:
                yield self._split(source, options)
            return
        yield from self._outcomes((_Input(source, options) for source in sources), options)

    def transcribe_stream(
        self, source: Source, options: TranscribeOptions | None = None
    ) -> Generator[tuple[Word, ...] | Transcript, None, None]:
        """One input's words as they are decided, a tuple at a time, in order, then its
        whole Transcript (whose words are theirs). An error raises where it happens: before
        the first words for one opening or decoding the input. channels="split" decides
        every channel before it merges them, so it yields the Transcript alone."""
        options = options or TranscribeOptions()
        if options.channels == "split":
            yield self.transcribe(source, options)
            return
        language = self.model.in_language(options.language)
        if self.beam:
            self.beam.check_vocabulary(language.vocab)
        mode = self._transcribing(language)
        told = _Told(language.vocab, self.model.frame_seconds)
        stream = self._stream([_Input(source, options)], mode)
        for job, item in self._decided(stream, options.batch_size, mode):
            if item is END:
                outcome = self._outcome(job, language)
                if isinstance(outcome, Exception):
                    raise outcome
                yield outcome
            elif isinstance(item, Piece) and not job.failed:
                assert isinstance(job.stitcher, Stitcher)
                if words := told.final_words(job.stitcher, item.ends_in_pause):
                    yield words

    def _outcomes(
        self, inputs: Iterable[_Input], options: TranscribeOptions
    ) -> Iterator[Transcript | Exception]:
        mode = self._transcribing(self.model.in_language(options.language))
        for job, item in self._decided(self._stream(inputs, mode), options.batch_size, mode):
            if item is END:
                yield self._outcome(job, mode.language)

    def _split(self, source: Source, options: TranscribeOptions) -> Transcript | Exception:
        """One transcript per distinct channel, merged (wav2text.channels)."""
        try:
            if hasattr(source, "read") and not getattr(source, "seekable", lambda: False)():
                raise OptionsError(
                    "channels='split' reads the input once per channel, and this stream "
                    "cannot be read again: pass a file path or bytes (not a pipe)"
                )
            kept, same = distinct_channels(open_with(source, options))
            channels = len(kept) + len(same)
        except Exception as err:  # this input's outcome
            return err
        per_channel = [replace(options, channels="mix", channel=c) for c in kept]
        outcomes = list(self._outcomes([_Input(source, o, True) for o in per_channel], options))
        failure = next((o for o in outcomes if isinstance(o, Exception)), None)
        if failure is not None:
            return failure
        transcripts = [o for o in outcomes if isinstance(o, Transcript)]
        if channels == 1:
            return transcripts[0]
        return merged(list(zip(kept, transcripts, strict=True)), channels, same)

    def _stream(self, inputs: Iterable[_Input], mode: _Mode) -> Iterator[tuple[Job, Item]]:
        """Each input's pieces tagged with its job, then (job, END); a job that fails
        takes no more pieces."""
        for index, given in enumerate(inputs):
            job = Job(index, mode.frames(), given.options)
            if given.rewind:
                getattr(given.source, "seek", lambda _: None)(0)
            pieces = self._pieces_of(job, given.source, given.options)
            try:
                for piece in pieces:
                    if job.failed:  # a forward pass failed on one of its pieces
                        break
                    yield job, piece
            except Exception as err:  # this input's outcome; the others carry on
                job.fail(err)
            finally:
                pieces.close()  # stops its decoding thread
            yield job, END

    def _pieces_of(
        self, job: Job, source: Source, options: TranscribeOptions
    ) -> Generator[Piece, None, None]:
        """Open one input, decide its rate, and cut what reaches the model into pieces."""
        job.rate = decide_rate(open_with(source, options), self.model, options)
        audio = job.rate.audio
        mono = to_mono(audio, options.channel)
        if audio.rate:
            limits = (options.max_duration_s, options.time_limit_s, audio.declared_s)
            mono = bounded(mono, audio.rate, *limits)
            if options.progress:
                mono = reported(mono, audio.rate, audio.declared_s, options.progress)
        job.counter = SampleCounter(mono)
        # rate None: no samples, or none finite; their errors come as the blocks are read
        blocks = (
            resample_stream(job.counter, audio.rate, self.model.sampling_rate)
            if audio.rate
            else iter(job.counter)
        )
        yield from self.pieces(prefetch(blocks), options)

    def _decided(
        self, stream: Iterable[tuple[Job, Item]], batch_size: int, mode: _Mode
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
            decisions = self._decide([p for _, p in pieces], batch_size, mode)
            for (i, piece), decision in zip(pieces, decisions, strict=True):
                job = group[i][0]
                if isinstance(decision, Exception):
                    job.fail(decision)
                elif not job.failed:
                    job.stitcher.add(piece, decision)
            yield from group

    def _decide(self, pieces: list[Piece], batch_size: int, mode: _Mode) -> list[Any | Exception]:
        """Frame decisions for each piece (in order); silent ones are blank unheard."""
        silence = [mode.silence(self.model.frames_for(len(p.samples))) for p in pieces]
        decisions: list[Any | Exception] = list(silence)
        audible = [i for i, p in enumerate(pieces) if _audible(p.samples, self.model)]
        lengths = [len(pieces[i].samples) for i in audible]
        for batch in batches_by_length(lengths, batch_size, self.model.pads_safely):
            chosen = [audible[b] for b in batch]
            outcomes = self._forward([pieces[i] for i in chosen], mode)
            for i, decision in zip(chosen, outcomes, strict=True):
                decisions[i] = decision
        return decisions

    def _forward(self, pieces: list[Piece], mode: _Mode) -> list[Any | Exception]:
        """One forward pass and decoding over pieces; if it raises, each piece alone, so
        that the error lands on the input it belongs to (out of memory on one long piece,
        a model bug on one odd length) and the others' pieces are decided."""
        try:
            outputs = self.model.log_probs_batch([p.samples for p in pieces], mode.language.code)
            return [mode.decode(output) for output in outputs]
        except Exception as err:
            if len(pieces) == 1:
                return [err]
            return [self._forward([piece], mode)[0] for piece in pieces]

    def _outcome(self, job: Job, language: Language) -> Transcript | Exception:
        if job.error is not None:
            return job.error
        try:
            return self._finish(job, language)
        except Exception as err:  # a bug on this input's path: its outcome, not the run's
            return err

    def _finish(self, job: Job, language: Language) -> Transcript:
        assert isinstance(job.stitcher, Stitcher)
        ids, probs = job.stitcher.arrays()
        options, seconds = job.options, self.model.frame_seconds
        words = words_of(ids, probs, language.vocab, seconds, options.char_timestamps)
        notes = [_no_speech(job, options)]
        return self._transcript(job, words, language, notes, self.decoder)

    def _transcript(
        self,
        job: Job,
        words: tuple[Word, ...],
        language: Language,
        warnings: Iterable[str | None],
        decoder: str,
    ) -> Transcript:
        """A finished job's words, with the facts of its audio and what was noticed."""
        assert job.rate is not None and job.counter is not None
        options = job.options
        audio, estimate, check = job.rate.audio, job.rate.estimate, job.rate.check
        assert audio.rate is not None  # samples were read, so it was decided
        duration = job.counter.count / audio.rate
        info = audio_info(
            audio,
            options.channel,
            self.model.sampling_rate,
            duration,
            rate_confidence=estimate.confidence if estimate else None,
            rate_runner_up=estimate.runner_up if estimate else None,
        )
        noticed = [check and check.warning(), *warnings]
        return Transcript(
            text=" ".join(w.text for w in words),
            words=words,
            segments=segments_from_words(words),
            duration=duration,
            audio=info,
            model=self.model.name,
            warnings=tuple(w for w in noticed if w),
            decoder=decoder,
            language=language.code,
        )

    def align(
        self, source: Source, text: str, options: TranscribeOptions | None = None
    ) -> Transcript:
        """The words of `text`, a transcript of the audio, placed in time by forced
        alignment: the same inputs and options as transcribe, the same result, each
        word's confidence its alignment score. Warnings name words the audio hardly holds,
        words the model cannot spell, and speech the text does not cover."""
        options = options or TranscribeOptions()
        language = self.model.in_language(options.language)
        words = reference(text, language.vocab)
        mode = self._aligning(language)
        for job, item in self._decided(self._stream([_Input(source, options)], mode), 1, mode):
            if item is END:
                if job.error is not None:
                    raise job.error
                assert isinstance(job.stitcher, LogProbStitcher)
                log_probs = job.stitcher.array(self._frames_heard(job))
                found = align_words(log_probs, words, language.vocab, self.model.frame_seconds)
                return self._transcript(job, found.words, language, found.warnings, ALIGNED)
        raise AssertionError("the stream ends with its job's END")

    def _frames_heard(self, job: Job) -> int:
        """The whole input's length in frames (trailing silence included; no model call)."""
        assert job.rate is not None and job.rate.audio.rate and job.counter is not None
        at_model_rate = job.counter.count * self.model.sampling_rate / job.rate.audio.rate
        return round(at_model_rate) // self.model.hop

    def _aligning(self, language: Language) -> _Mode:
        """Each piece's log-probabilities kept, for the aligner to read whole."""
        vocab, hop = language.vocab, self.model.hop
        width = self.model.output_size(language)  # the head's outputs: the vocabulary, or more

        def frames() -> LogProbStitcher:
            return LogProbStitcher(hop, vocab.blank, width)

        return _Mode(frames, lambda log_probs: log_probs, frames().silence, language)

    def window_plan(self, options: TranscribeOptions) -> WindowPlan:
        """The window geometry this model runs with under these options."""
        model = self.model
        chunk_s = options.chunk_length_s or model.window_s[0]
        stride_s = options.stride_length_s or model.window_s[1]
        rate, hop = model.sampling_rate, model.hop
        return plan_windows(rate, hop, model.frames_for, chunk_s, stride_s, model.min_samples)

    def cut_plan(self, options: TranscribeOptions) -> CutPlan:
        """How speech is cut into segments under these options (segmentation "vad")."""
        max_s = options.max_segment_s or self.model.window_s[0]
        return plan_cuts(self.model.sampling_rate, self.model.hop, max_s)

    def pieces(self, blocks: Iterable[np.ndarray], options: TranscribeOptions) -> Iterator[Piece]:
        """The audio the model runs on: speech cuts or strided windows."""
        counted = SampleCounter(blocks)
        rate = self.model.sampling_rate
        if options.segmentation == "vad":
            plan = self.cut_plan(options)
            # VAD scores on its own thread (onnxruntime releases the GIL), beside the model
            scored = prefetch(speech_probabilities(counted, rate))
            yield from speech_cuts(scored, plan, rate, VAD_FRAME_S)
        else:
            yield from window_pieces(counted, self.window_plan(options), self.model.hop)
        self._check_length(counted.count)

    def decide(self, piece: Piece, language: Language | None = None) -> Decision:
        """One piece's frame decisions, as transcribe makes them (silent: blank), in
        `language` (from `model.in_language`; None: the one the model was loaded in)."""
        mode = self._transcribing(language or self.model.in_language(None))
        (decision,) = self._decide([piece], 1, mode)
        if isinstance(decision, Exception):
            raise decision
        return decision

    def _transcribing(self, language: Language) -> _Mode:
        """Each piece's frames decided (greedy or beam search) as soon as it is run."""
        vocab = language.vocab

        def blank(n_frames: int) -> Decision:
            return np.full(n_frames, vocab.blank), np.ones(n_frames, dtype=np.float32)

        return _Mode(
            lambda: Stitcher(self.model.hop, vocab.blank, vocab.delimiter),
            self.beam or best_path,
            blank,
            language,
        )

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


class _Told:
    """How far an input's words have been handed out while it is decided: each word once,
    once a word delimiter after it shows it has ended (the last one waits, unless its
    piece ended in a pause). The path is read again from the waiting word's first letter,
    so the words handed out are those the whole path gives."""

    def __init__(self, vocab: Vocabulary, frame_s: float) -> None:
        self.vocab, self.frame_s, self.frame = vocab, frame_s, 0

    def final_words(self, stitcher: Stitcher, paused: bool) -> tuple[Word, ...]:
        ids, probs = stitcher.arrays()
        start = self.frame - stitcher.taken
        words = words_of(ids[start:], probs[start:], self.vocab, self.frame_s, False, self.frame)
        if paused:
            self.frame = stitcher.done
            return words
        if not words:
            return words
        self.frame = round(words[-1].start / self.frame_s)  # the last word may go on
        return words[:-1]


def transcribe(
    source: Source,
    options: TranscribeOptions | None = None,
    model: ModelOptions | str | Path | None = None,
) -> Transcript:
    """One-call convenience: load the model and transcribe one input."""
    return Transcriber(model).transcribe(source, options)


def _no_speech(job: Job, options: TranscribeOptions) -> str | None:
    """An empty transcript of audible audio because VAD heard no speech says so."""
    assert job.counter is not None
    if options.segmentation != "vad" or job.stitcher.heard or job.counter.peak < SILENCE_PEAK:
        return None
    return (
        "voice activity detection found no speech in audio peaking at "
        f"{20 * np.log10(job.counter.peak):.0f} dBFS; if it holds speech (very quiet, or "
        "under music or noise), transcribe with segmentation='window' (--segmentation window)"
    )
