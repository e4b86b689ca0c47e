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
from .options import ModelOptions, TranscribeOptions, check_window
from .prefetch import prefetch
from .rate import resample_stream
from .results import Transcript, segments_from_words
from .segments import Window, WindowPlan, kept_frames, plan_windows, windows

# Windows whose peak stays below -70 dBFS hold no audible sound; normalising them would
# blow their noise floor up to full scale and invite invented words, so they decode as blank.
SILENCE_PEAK = 10 ** (-70 / 20)


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

    def _frame_decisions(
        self, blocks: Iterable[np.ndarray], options: TranscribeOptions
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best token and its probability for every frame of the file, window by window."""
        plan = self.window_plan(options)
        ids: list[np.ndarray] = []
        probs: list[np.ndarray] = []
        for window in windows(blocks, plan, self.model.hop):
            if window.is_first and window.is_last:
                self._check_length(len(window.samples))
            path, prob = self._window_decisions(window)
            keep = kept_frames(window, len(path), plan.stride_frames)
            ids.append(path[keep])
            probs.append(prob[keep])
        return np.concatenate(ids), np.concatenate(probs)

    def _window_decisions(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        if np.abs(window.samples).max() < SILENCE_PEAK:
            n = self.model.frames_for(len(window.samples))
            return np.full(n, self.model.vocab.blank), np.ones(n, dtype=np.float32)
        return best_path(self.model.log_probs(window.samples))

    def _check_length(self, n_samples: int) -> None:
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
