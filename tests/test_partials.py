"""Live partials: the whole unfinished utterance, at a bounded share of the model's time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from test_streaming import speech
from wav2text import BUNDLED_MODEL, TranscribeOptions, Transcriber
from wav2text.serving import live

BLOCK = 800  # 50 ms at 16 kHz, as a live stream's blocks


@pytest.fixture(scope="module")
def demo() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)


def run_partials(
    demo: Transcriber, audio: np.ndarray, behind_s: Callable[[float], float] = lambda _s: 0.0
) -> tuple[list[dict[str, Any]], int]:
    """Every partial of `audio` heard as one unbroken utterance (the VAD says speech
    throughout, no final is made), and how many samples the model ran over."""
    model, events, ran = demo.model, [], [0]
    forward = model.log_probs_batch

    def counted(batch: Any, language: Any = None) -> list[np.ndarray]:
        ran[0] += sum(len(x) for x in batch)
        return forward(batch, language)

    language = model.in_language(None)
    finals = SimpleNamespace(heard_sample=0)
    partials = live._Partials(
        demo, language, demo.decode(TranscribeOptions()), events.append, finals, behind_s
    )  # type: ignore[arg-type]

    def scored() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(0, len(audio), BLOCK):
            block = audio[i : i + BLOCK]
            yield block, np.ones(max(1, round(len(block) / 16000 / live.VAD_FRAME_S)))

    model.log_probs_batch = counted  # type: ignore[method-assign]
    try:
        for _ in partials.tap(scored()):
            pass
    finally:
        del model.log_probs_batch
    return events, ran[0]


def check_whole_and_bounded(
    events: list[dict[str, Any]], ran: int, audio: np.ndarray, offline: str
) -> None:
    last = events[-1]
    assert last["start"] < 1.0, "the last partial starts where the utterance starts"
    heard, said = last["text"].split(), offline.split()
    assert heard[:3] == said[:3] and len(heard) >= 0.8 * len(said)
    assert ran <= (live.PARTIAL_RECOMPUTE + 1) * len(audio), "each second computed ~3 times"


@pytest.fixture(scope="module")
def utterance(demo: Transcriber) -> tuple[np.ndarray, str]:
    """Nine seconds of speech with no pause a final could cut at: longer than the window."""
    audio = np.concatenate([speech()] * 3)
    audio = audio[np.abs(audio) > 0][: 9 * 16000]  # the pauses taken out
    assert len(audio) == 9 * 16000 > 2 * live.PARTIAL_WINDOW_S * 16000
    return audio, demo.transcribe(audio, TranscribeOptions(sample_rate=16000)).text


def test_a_partial_shows_the_whole_unfinished_utterance_at_a_bounded_cost(
    demo: Transcriber, utterance: tuple[np.ndarray, str]
) -> None:
    audio, offline = utterance
    events, ran = run_partials(demo, audio)
    check_whole_and_bounded(events, ran, audio, offline)
    assert len(events) >= len(audio) / 16000 / live.PARTIAL_WINDOW_S  # partials all along


def test_the_check_catches_partials_that_forget_the_utterances_start(
    demo: Transcriber, utterance: tuple[np.ndarray, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The negative control: partials over the last window only (no kept frames)."""
    audio, offline = utterance
    monkeypatch.setattr(live._Frames, "joined", lambda _self, first, lp: live._Frames(first, lp))
    events, ran = run_partials(demo, audio)
    with pytest.raises(AssertionError, match="starts where the utterance starts"):
        check_whole_and_bounded(events, ran, audio, offline)


def test_a_stream_behind_real_time_skips_its_partials(
    demo: Transcriber, utterance: tuple[np.ndarray, str]
) -> None:
    audio, _ = utterance
    events, ran = run_partials(demo, audio, behind_s=lambda _s: live.MAX_BEHIND_S + 1)
    assert events == [] and ran == 0
    events, ran = run_partials(demo, audio, behind_s=lambda _s: live.MAX_BEHIND_S / 2)
    assert events and ran  # the control: a stream keeping up has them


def test_a_streams_lag_is_how_long_ago_the_audio_being_heard_arrived(demo: Transcriber) -> None:
    stream = live.LiveStream(demo, live.LiveFormat("s16le", 16000))
    stream.feed(bytes(32000))  # one second of audio
    time.sleep(0.3)
    stream.feed(bytes(32000))  # and another, 0.3 s later
    assert stream.lag_s(0.5) >= 0.3 and stream.lag_s(1.5) < 0.2
