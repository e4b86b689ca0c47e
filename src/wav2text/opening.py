"""The first stages for each input: open it, decide its rate, read it mono at the model's
rate, and hand what reaches the model to a cutter; the stream of `(job, piece)` and
`(job, END)` that the forward passes (wav2text.passes) take."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .audio import Source, open_with, to_mono
from .blocks import SampleCounter, bounded, reported
from .errors import AudioTooShortError, EmptyAudioError
from .estimation.decide import decide_rate
from .job import END, Frames, Item, Job
from .model import CTCModel
from .options import TranscribeOptions
from .prefetch import prefetch
from .rate import resample_stream
from .segments import Piece

Cutter = Callable[[Iterable[np.ndarray], TranscribeOptions], Iterator[Piece]]


@dataclass(frozen=True)
class Input:
    source: Source
    options: TranscribeOptions
    rewind: bool = False  # read again from its start (a file object, once per channel)


def stream(
    inputs: Iterable[Input], model: CTCModel, frames: Callable[[], Frames], cut: Cutter
) -> Iterator[tuple[Job, Item]]:
    """Each input's pieces tagged with its job, then (job, END); a job that fails takes no
    more pieces."""
    for index, given in enumerate(inputs):
        job = Job(index, frames(), given.options)
        if given.rewind:
            getattr(given.source, "seek", lambda _: None)(0)
        pieces = pieces_of(job, given.source, model, cut)
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


def pieces_of(
    job: Job, source: Source, model: CTCModel, cut: Cutter
) -> Generator[Piece, None, None]:
    """Open one input, decide its rate, and cut what reaches the model into pieces."""
    options = job.options
    job.rate = decide_rate(open_with(source, options), model, options)
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
        resample_stream(job.counter, audio.rate, model.sampling_rate)
        if audio.rate
        else iter(job.counter)
    )
    yield from cut(prefetch(blocks), options)


def check_length(n_samples: int, model: CTCModel) -> None:
    """After the whole input was seen: is there enough audio to make one frame?"""
    if n_samples == 0:
        raise EmptyAudioError(
            "the audio holds no samples; check that the file or array is not empty"
        )
    if n_samples < model.min_samples:
        rate = model.sampling_rate
        raise AudioTooShortError(
            f"the audio lasts {n_samples / rate * 1000:.1f} ms; the model needs at least "
            f"{model.min_samples} samples at {rate} Hz "
            f"({model.min_samples / rate * 1000:.1f} ms) to make one frame, and no "
            "word fits in less; pass a longer recording"
        )
