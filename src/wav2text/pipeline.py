"""Orchestration only: source -> audio -> rate -> segments -> model -> ctc -> Transcript.

Each input becomes a Job (wav2text.job). Its pieces flow through one stream tagged with
their job, batched into forward passes across inputs; an exception on one input's path
(opening, decoding, a forward pass, decoding the frames) becomes that input's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from .align import align as align_words
from .align import reference
from .audio import Source, open_with
from .blocks import SampleCounter
from .channels import distinct_channels, merged
from .ctc import best_path
from .errors import OptionsError
from .finish import ALIGNED, Told, frames_heard, transcribed, transcript_of
from .job import END, Job
from .lm import Hotwords, load_beam_search
from .model import CTCModel, Language, load_model
from .opening import Input, check_length, stream
from .options import ModelOptions, TranscribeOptions, weighted_hotwords
from .passes import Decision, Mode, decide, decided
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


class Transcriber:
    """Loads a CTC model once and transcribes any number of inputs with it."""

    def __init__(self, model: ModelOptions | str | Path | None = None) -> None:
        options = model if isinstance(model, ModelOptions) else ModelOptions(model=model)
        self.model: CTCModel = load_model(options)
        self.beam = load_beam_search(options, self.model)  # None: greedy decoding

    def decode(self, options: TranscribeOptions) -> Callable[[np.ndarray], Decision]:
        """How one piece's log-probabilities become its path: beam search (favouring the
        options' hotwords), or best path."""
        if not options.hotwords:
            return self.beam or best_path
        if self.beam is None:
            raise OptionsError(
                f"hotwords need a beam search with a language model, and {self.model.name} "
                "decodes without one; give it one with lm=PATH (--lm PATH), or leave out hotwords"
            )
        weighted = weighted_hotwords(options.hotwords, options.hotword_weight)
        return self.beam.with_hotwords(Hotwords(weighted))

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
        language = self.model.in_language(options.language)
        if self.beam:
            self.beam.check_vocabulary(language.vocab)
        mode = self._transcribing(language, options)
        told = Told(language.vocab, self.model.frame_seconds)
        tagged = stream([Input(source, options)], self.model, mode.frames, self.pieces)
        for job, item in decided(tagged, self.model, options.batch_size, mode):
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
        self, inputs: Iterable[Input], options: TranscribeOptions
    ) -> Iterator[Transcript | Exception]:
        mode = self._transcribing(self.model.in_language(options.language), options)
        tagged = stream(inputs, self.model, mode.frames, self.pieces)
        for job, item in decided(tagged, self.model, options.batch_size, mode):
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
        outcomes = list(self._outcomes([Input(source, o, True) for o in per_channel], options))
        failure = next((o for o in outcomes if isinstance(o, Exception)), None)
        if failure is not None:
            return failure
        transcripts = [o for o in outcomes if isinstance(o, Transcript)]
        if channels == 1:
            return transcripts[0]
        return merged(list(zip(kept, transcripts, strict=True)), channels, same)

    def _outcome(self, job: Job, language: Language) -> Transcript | Exception:
        if job.error is not None:
            return job.error
        try:
            return transcribed(job, self.model, language, self.decoder)
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
        mode = self._aligning(language)
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

    def _aligning(self, language: Language) -> Mode:
        """Each piece's log-probabilities kept, for the aligner to read whole."""
        vocab, hop = language.vocab, self.model.hop
        width = self.model.output_size(language)  # the head's outputs: the vocabulary, or more

        def frames() -> LogProbStitcher:
            return LogProbStitcher(hop, vocab.blank, width)

        return Mode(frames, lambda log_probs: log_probs, frames().silence, language)

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
        check_length(counted.count, self.model)

    def decide(
        self,
        piece: Piece,
        language: Language | None = None,
        options: TranscribeOptions | None = None,
    ) -> Decision:
        """One piece's frame decisions, as transcribe makes them (silent: blank), in
        `language` (from `model.in_language`; None: the one the model was loaded in)."""
        mode = self._transcribing(language or self.model.in_language(None), options)
        (decision,) = decide([piece], self.model, 1, mode)
        if isinstance(decision, Exception):
            raise decision
        return decision

    def _transcribing(self, language: Language, options: TranscribeOptions | None) -> Mode:
        """Each piece's frames decided (greedy or beam search) as soon as it is run."""
        vocab = language.vocab

        def blank(n_frames: int) -> Decision:
            return np.full(n_frames, vocab.blank), np.ones(n_frames, dtype=np.float32)

        return Mode(
            lambda: Stitcher(self.model.hop, vocab.blank, vocab.delimiter),
            self.decode(options or TranscribeOptions()),
            blank,
            language,
        )


def transcribe(
    source: Source,
    options: TranscribeOptions | None = None,
    model: ModelOptions | str | Path | None = None,
) -> Transcript:
    """One-call convenience: load the model and transcribe one input."""
    return Transcriber(model).transcribe(source, options)
