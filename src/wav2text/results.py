"""Frozen result types: what was said, when, how sure, and what was done to the audio."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

RateSource = Literal["header", "given", "estimated"]

# Subtitle cues: a new segment starts after a pause this long, or when one grows too long.
SEGMENT_MAX_GAP_S = 1.0
SEGMENT_MAX_DURATION_S = 7.0
SEGMENT_MAX_CHARS = 84


@dataclass(frozen=True)
class Char:
    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float
    confidence: float  # mean posterior probability of the word's tokens, 0..1
    chars: tuple[Char, ...] | None = None
    channel: int | None = None  # with channels="split": the channel it was said on


@dataclass(frozen=True)
class Segment:
    text: str
    start: float
    end: float
    words: tuple[Word, ...]
    channel: int | None = None  # with channels="split": the channel it was said on


@dataclass(frozen=True)
class AudioInfo:
    """The input as found, and each step taken to bring it to the model."""

    source_rate: int
    rate_source: RateSource
    channels: int
    codec: str | None
    container: str | None
    model_rate: int
    resampled: bool
    downmix: str | None  # "mean of 2 channels", "channel 1 of 6", None for mono input
    duration: float  # seconds of audio decoded
    rate_confidence: float | None = None  # for an estimated rate: its probability
    rate_runner_up: int | None = None  # for an estimated rate: the next best candidate

    def steps(self) -> str:
        """One line such as 'decode mp3 -> downmix 2->1 (mean) -> resample 44100->16000 Hz'."""
        parts = [f"decode {self.codec or 'array'}"]
        if self.rate_source == "estimated" and self.rate_confidence is not None:
            parts.append(f"rate estimated {self.source_rate} Hz ({self.rate_confidence:.0%})")
        if self.downmix:
            split = self.downmix.startswith("split")
            parts.append(self.downmix if split else f"downmix {self.downmix}")
        if self.resampled:
            parts.append(f"resample {self.source_rate}->{self.model_rate} Hz")
        return " -> ".join(parts)


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[Word, ...]
    segments: tuple[Segment, ...]
    duration: float
    audio: AudioInfo
    model: str
    warnings: tuple[str, ...] = ()  # e.g. a header rate that does not fit the content
    decoder: str = "greedy"  # or "beam search (BEAM SIZE), LM <KenLM file>"
    language: str | None = None  # what a multilingual (MMS) model ran in; None: one language

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["audio"]["steps"] = self.audio.steps()
        return data


def segments_from_words(words: tuple[Word, ...]) -> tuple[Segment, ...]:
    """Group words into subtitle-sized segments, cutting at pauses and length limits."""
    groups: list[list[Word]] = []
    for word in words:
        if groups and _fits(groups[-1], word):
            groups[-1].append(word)
        else:
            groups.append([word])
    return tuple(
        Segment(" ".join(w.text for w in g), g[0].start, g[-1].end, tuple(g), g[0].channel)
        for g in groups
    )


def _fits(group: list[Word], word: Word) -> bool:
    chars = sum(len(w.text) + 1 for w in group) + len(word.text)
    return (
        word.channel == group[-1].channel
        and word.start - group[-1].end < SEGMENT_MAX_GAP_S
        and word.end - group[0].start <= SEGMENT_MAX_DURATION_S
        and chars <= SEGMENT_MAX_CHARS
    )
