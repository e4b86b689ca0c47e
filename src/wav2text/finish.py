"""A finished job as a Transcript: its words, the facts of its audio, what was noticed;
and the words of a job still being decided, each handed out once (`Told`)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .audio import audio_info
from .ctc import Vocabulary, words_of
from .job import Job
from .model import CTCModel, Language
from .passes import SILENCE_PEAK
from .results import Transcript, Word, segments_from_words
from .segments import Stitcher

ALIGNED = "forced alignment"  # Transcript.decoder of Transcriber.align


def transcribed(job: Job, model: CTCModel, language: Language, decoder: str) -> Transcript:
    """A transcribed job's frames read as words."""
    assert isinstance(job.stitcher, Stitcher)
    ids, probs = job.stitcher.arrays()
    seconds, chars = model.frame_seconds, job.options.char_timestamps
    words = words_of(ids, probs, language.vocab, seconds, chars)
    return transcript_of(job, model, words, language, [_no_speech(job)], decoder)


def transcript_of(
    job: Job,
    model: CTCModel,
    words: tuple[Word, ...],
    language: Language,
    warnings: Iterable[str | None],
    decoder: str,
) -> Transcript:
    """A finished job's words, with the facts of its audio and what was noticed."""
    assert job.rate is not None and job.counter is not None
    audio, estimate, check = job.rate.audio, job.rate.estimate, job.rate.check
    assert audio.rate is not None  # samples were read, so it was decided
    duration = job.counter.count / audio.rate
    info = audio_info(
        audio,
        job.options.channel,
        model.sampling_rate,
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
        model=model.name,
        warnings=tuple(w for w in noticed if w),
        decoder=decoder,
        language=language.code or model.spoken,
    )


def frames_heard(job: Job, model: CTCModel) -> int:
    """The whole input's length in frames (trailing silence included; no model call)."""
    assert job.rate is not None and job.rate.audio.rate and job.counter is not None
    at_model_rate = job.counter.count * model.sampling_rate / job.rate.audio.rate
    return round(at_model_rate) // model.hop


class Told:
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


def _no_speech(job: Job) -> str | None:
    """An empty transcript of audible audio because VAD heard no speech says so."""
    assert job.counter is not None
    if job.options.segmentation != "vad" or job.stitcher.heard or job.counter.peak < SILENCE_PEAK:
        return None
    return (
        "voice activity detection found no speech in audio peaking at "
        f"{20 * np.log10(job.counter.peak):.0f} dBFS; if it holds speech (very quiet, or "
        "under music or noise), transcribe it with window segmentation instead (the "
        "segmentation option set to window)"
    )
