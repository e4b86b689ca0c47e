"""One transcript per channel: which channels to transcribe, and how their words merge.

Call-centre and interview recordings put one speaker per channel: averaging the channels
mixes two voices into one stream, and keeping one loses the other speaker. With
channels="split" each channel is transcribed alone (a silent one costs nothing: no speech
reaches the model) and the words are merged in time order, each labelled with its channel.
Channels holding the same audio (a mono recording stored as stereo) are transcribed once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from .audio import DecodedAudio, Source, open_with
from .errors import OptionsError
from .opening import Input
from .options import TranscribeOptions
from .rate import CANDIDATE_RATES
from .results import Transcript, Word, segments_from_words

PROBE_S = 30.0  # seconds of audio compared to tell identical channels
SAME_DB = -50.0  # a channel this far (energy of the difference) below another is the same


def distinct_channels(audio: DecodedAudio) -> tuple[list[int], dict[int, int]]:
    """The channels worth transcribing, and each duplicate with the channel it repeats,
    judged on the first PROBE_S seconds. Consumes the audio's blocks."""
    limit = int(PROBE_S * (audio.rate or max(CANDIDATE_RATES)))  # unknown: the most it may be
    head, count = [], 0
    for block in audio.blocks:
        head.append(block)
        count += len(block)
        if count >= limit:
            break
    close = getattr(audio.blocks, "close", None)
    if close:
        close()  # stop decoding the rest
    if not head:
        return [0], {}
    samples = np.concatenate(head)[:limit].astype(np.float64)
    kept: list[int] = []
    same: dict[int, int] = {}
    for channel in range(audio.channels):
        twin = next((k for k in kept if _same(samples[:, k], samples[:, channel])), None)
        if twin is None:
            kept.append(channel)
        else:
            same[channel] = twin
    return kept, same


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    power = max(float(np.mean(a**2)), float(np.mean(b**2)), 1e-20)
    difference = float(np.mean((a - b) ** 2))
    return difference <= power * 10 ** (SAME_DB / 10)


def merged(
    parts: Sequence[tuple[int, Transcript]], channels: int, same: dict[int, int]
) -> Transcript:
    """The channels' transcripts as one: words and segments in time order, each labelled
    with its channel; text one line per segment, `[channel] words`."""
    words = sorted(
        (replace(w, channel=channel) for channel, t in parts for w in t.words),
        key=lambda w: (w.start, w.channel),
    )
    segments = sorted(
        (s for channel, _ in parts for s in segments_from_words(_on(words, channel))),
        key=lambda s: (s.start, s.channel),
    )
    first = parts[0][1]
    notes = [
        f"channel {c} holds the same audio as channel {t}: transcribed once"
        for c, t in same.items()
    ]
    warnings = [f"channel {channel}: {w}" for channel, t in parts for w in t.warnings]
    return replace(
        first,
        text="\n".join(f"[{s.channel}] {s.text}" for s in segments),
        words=tuple(words),
        segments=tuple(segments),
        duration=max(t.duration for _, t in parts),
        audio=replace(first.audio, downmix=f"split {channels}->{len(parts)} (one transcript each)"),
        warnings=tuple(notes + warnings),
    )


def _on(words: Sequence[Word], channel: int) -> tuple[Word, ...]:
    return tuple(w for w in words if w.channel == channel)


def split_transcript(
    source: Source,
    options: TranscribeOptions,
    run: Callable[[list[Input], TranscribeOptions], Iterable[Transcript | Exception]],
) -> Transcript | Exception:
    """One transcript per distinct channel (each read again from the start and run by
    `run`), merged; or the exception that stopped one of them."""
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
    outcomes = list(run([Input(source, o, True) for o in per_channel], options))
    failure = next((o for o in outcomes if isinstance(o, Exception)), None)
    if failure is not None:
        return failure
    transcripts = [o for o in outcomes if isinstance(o, Transcript)]
    if channels == 1:
        return transcripts[0]
    return merged(list(zip(kept, transcripts, strict=True)), channels, same)
