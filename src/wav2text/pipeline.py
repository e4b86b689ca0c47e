"""Orchestration only: source -> audio -> rate -> segments -> model -> ctc -> Transcript.

Each input becomes a Job (wav2text.job). Its pieces flow through one stream tagged with
their job, batched into forward passes across inputs; an exception on one input's path
(opening, decoding, a forward pass, decoding the frames) becomes that input's outcome.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path

import numpy as np

from .align import align as align_words
from .align import reference
from .audio import Source
from .blocks import SampleCounter
from .channels import split_transcript
from .ctc import best_path
from .errors import OptionsError
from .finish import ALIGNED, Told, frames_heard, transcribed, transcript_of
from .hotwords import Hotwords, HotwordSearches
from .job import END, Job
from .lm import load_beam_search
from .model import CTCModel, Language, load_model
from .opening import Input, check_length, stream
from .options import ModelOptions, TranscribeOptions, weighted_hotwords
from .parallel import outcomes_in_processes
from .passes import Decision, Mode, aligning, decide, decided, transcribing
from .prefetch import prefetch
from .results import Transcript, Word
from .segments import (
    CutPlan,
    LogProbStitcher,
    Piece,
    Stitcher,
    WindowPlan,
    plan_cuts,
    plan_windows,
    speech_cuts,
    window_pieces,
)
from .vad import FRAME_S as VAD_FRAME_S
from .vad import speech_probabilities

Tap = Callable[[Iterable[tuple[np.ndarray, np.ndarray]]], Iterator[tuple[np.ndarray, np.ndarray]]]


class Transcriber:
    """Loads a CTC model once and transcribes any number of inputs with it."""

    def __init__(self, model: ModelOptions | str | Path | None = None) -> None:
        options = model if isinstance(model, ModelOptions) else ModelOptions(model=model)
        self.options = options
        self.model: CTCModel = load_model(options)
        self.beam = load_beam_search(options, self.model)  # None: greedy decoding
        self._hotword_searches = HotwordSearches(self.beam)

    def decode(self, options: TranscribeOptions) -> Callable[[np.ndarray], Decision]:
        """How one piece's log-probabilities become its path: beam search (favouring the
        options' hotwords, spelled in the options' language; with no LM, over tokens), or
        best path."""
        if not options.hotwords:
            return self.beam or best_path
        searches, weight = self._hotword_searches, options.hotword_weight
        default = searches.default_weight if weight is None else weight
        weighted = weighted_hotwords(options.hotwords, default)
        vocab = self.model.in_language(options.language).vocab
        return searches(Hotwords(weighted), vocab)

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
        self,
        sources: Iterable[Source],
        options: TranscribeOptions | None = None,
        workers: int = 1,
    ) -> Iterator[Transcript | Exception]:
        """One outcome per source, in order: its Transcript, or the exception that stopped
        it (the others carry on). Segments of consecutive inputs share forward passes when
        options.batch_size > 1, so many short files fill batches too.

        workers > 1: this process and workers - 1 more, each with its own copy of the model
        and one CPU thread (sources must be paths). This one starts at once; the others
        take inputs once they have loaded the model (a few seconds). The same outcomes as
        one process."""
        options = options or TranscribeOptions()
        self._transcribing(options)  # a language or hotwords it cannot take: raised here
        if workers > 1:
            yield from outcomes_in_processes(self, _paths(sources), options, workers)
            return
        if options.channels == "split":
            for source in sources:
                yield split_transcript(source, options, self._outcomes)
            return
        yield from self._outcomes((Input(source, options) for source in sources), options)

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
        mode = self._transcribing(options)
        language = mode.language
        told = Told(language.vocab, self.model.frame_seconds)
        tagged = stream([Input(source, options)], self.model, mode.frames, self.pieces)
        for job, item in decided(tagged, self.model, options.batch_size, mode):
            if item is END:
                outcome = self._outcome(job, mode)
                if isinstance(outcome, Exception):
                    raise outcome
                yield outcome
            elif isinstance(item, Piece) and not job.failed:
                assert isinstance(job.stitcher, Stitcher)
                if words := told.final_words(job.stitcher, item.ends_in_pause):
                    yield words

    def _outcomes(
        self, inputs: Iterable[Input], options: TranscribeOptions
    ) -> Iterator[Transcript | Exception]:
        mode = self._transcribing(options)
        tagged = stream(inputs, self.model, mode.frames, self.pieces)
        for job, item in decided(tagged, self.model, options.batch_size, mode):
            if item is END:
                yield self._outcome(job, mode)

    def _transcribing(self, options: TranscribeOptions) -> Mode:
        """The call's language (None: the one the model was loaded in), checked against the
        LM's vocabulary, and how its pieces are decided."""
        language = self.model.in_language(options.language)
        if self.beam:
            self.beam.check_vocabulary(language.vocab)
        return transcribing(self.model, language, self.decode(options))

    def _outcome(self, job: Job, mode: Mode) -> Transcript | Exception:
        if job.error is not None:
            return job.error
        decoder = getattr(mode.decode, "description", "greedy")  # best_path has none
        try:
            return transcribed(job, self.model, mode.language, decoder)
        except Exception as err:  # a bug on this input's path: its outcome, not the run's
            return err

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
        mode = aligning(self.model, language)
        tagged = stream([Input(source, options)], self.model, mode.frames, self.pieces)
        for job, item in decided(tagged, self.model, 1, mode):
            if item is END:
                if job.error is not None:
                    raise job.error
                assert isinstance(job.stitcher, LogProbStitcher)
                log_probs = job.stitcher.array(frames_heard(job, self.model))
                found = align_words(log_probs, words, language.vocab, self.model.frame_seconds)
                return transcript_of(
                    job, self.model, found.words, language, found.warnings, ALIGNED
                )
        raise AssertionError("the stream ends with its job's END")

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

    def pieces(
        self, blocks: Iterable[np.ndarray], options: TranscribeOptions, tap: Tap | None = None
    ) -> Iterator[Piece]:
        """The audio the model runs on: speech cuts or strided windows. `tap` sees the
        blocks and their speech probabilities on their way to the cuts (live partials)."""
        counted = SampleCounter(blocks)
        rate = self.model.sampling_rate
        if options.segmentation == "vad":
            plan = self.cut_plan(options)
            # VAD scores on its own thread (onnxruntime releases the GIL), beside the model
            scored = prefetch(speech_probabilities(counted, rate))
            yield from speech_cuts(tap(scored) if tap else scored, plan, rate, VAD_FRAME_S)
        else:
            yield from window_pieces(counted, self.window_plan(options), self.model.hop)
        check_length(counted.count, self.model)

    def decide(
        self,
        piece: Piece,
        language: Language | None = None,
        options: TranscribeOptions | None = None,
    ) -> Decision:
        """One piece's frame decisions, as transcribe makes them (silent: blank), in
        `language` (from `model.in_language`; None: the one the model was loaded in)."""
        language = language or self.model.in_language(None)
        mode = transcribing(self.model, language, self.decode(options or TranscribeOptions()))
        (decision,) = decide([piece], self.model, 1, mode)
        if isinstance(decision, Exception):
            raise decision
        return decision


def transcribe(
    source: Source,
    options: TranscribeOptions | None = None,
    model: ModelOptions | str | Path | None = None,
) -> Transcript:
    """One-call convenience: load the model and transcribe one input."""
    return Transcriber(model).transcribe(source, options)


def _paths(sources: Iterable[Source]) -> Iterator[str]:
    for source in sources:
        if not isinstance(source, (str, os.PathLike)):
            raise OptionsError(
                f"workers > 1 transcribes files by path; got {type(source).__name__}: "
                "pass paths, or use workers=1"
            )
        yield os.fspath(source)
