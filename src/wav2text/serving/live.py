"""Live transcription: audio in as it is captured, words out as they are heard.

Finals are what `transcribe` makes of the same audio: the same chain (PyAV's raw PCM
reader, mono, soxr to the model's rate, Silero VAD cutting at pauses), the same model call
and decoder per cut, the same stitching of frames; a cut's words are final once the pause
that closed it is heard (a cut split inside long speech holds its last word back until the
next cut shows where it ends). So the finals, joined, are the offline transcript.

Partials: while speech is pending, the model runs over the newest audio and the words
since the last final are decoded as the finals are (the LM's beam search when there is one,
so a partial's words are mostly the final's); they are revised by the next partial and
replaced by the final. `_Partials` says how their cost is bounded.

A stream holds the model only for one forward pass at a time (`CTCModel.lock`), so
concurrent streams and file requests interleave pass by pass.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..audio import audio_info, open_audio, to_mono
from ..ctc import words_of
from ..errors import AudioTooShortError, EmptyAudioError, OptionsError, SampleRateMismatchError
from ..estimation.decide import rivals
from ..estimation.estimator import check_declared
from ..model import Language
from ..options import RawFormat, TranscribeOptions
from ..pipeline import Transcriber
from ..rate import resample_stream, valid_rate
from ..rawformat import sample_bytes
from ..results import Word
from ..segments import Piece, Stitcher
from ..vad import FRAME_S as VAD_FRAME_S
from ..vad import SPEECH_PROBABILITY
from ..writers import openai_word

PARTIAL_EVERY_S = 0.25  # seconds of new audio between partials, at the least
PARTIAL_WINDOW_S = 1.5  # the least audio a partial runs the model over, once it is longer
PARTIAL_RECOMPUTE = 3.0  # a partial every window / this: each second is computed ~3 times
FROZEN_AFTER_S = 0.75  # a partial's frames this far from its end are kept for later ones
FROZEN_CONTEXT_S = 0.5  # the model runs from this far before the kept frames' end
RECENT_S = 6.0  # audio kept for partials (a window that reaches back to the kept frames)
MAX_BEHIND_S = 1.0  # partials wait while the audio being heard came this long ago
LIVE_BLOCK_S = 0.05  # decoded blocks this long (offline reads ~4 s at a time)
MIN_CHECK_S = 2.0  # the first check of the declared rate; a shorter stream is not checked
CHECK_SPEECH_S = 3.0  # the second: this much speech at the highest rival rate

Event = dict[str, Any]


@dataclass(frozen=True)
class LiveFormat:
    """What a client declares when it opens a stream: headerless PCM, its rate, channels."""

    sample_format: str
    sample_rate: int
    channels: int = 1

    def __post_init__(self) -> None:
        RawFormat(self.sample_format, self.channels)  # the same checks as for files
        if self.sample_format == "auto":
            raise OptionsError("a live stream declares its sample format; auto reads ahead")
        object.__setattr__(self, "sample_rate", valid_rate(self.sample_rate))

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample of every channel."""
        return sample_bytes(self.sample_format) * self.channels


class LiveStream:
    """One stream: `feed` bytes as they arrive and `close` at the end, from any thread;
    `run` (on a thread of its own) sends partial, final and done events to `emit`."""

    def __init__(
        self,
        transcriber: Transcriber,
        audio: LiveFormat,
        options: TranscribeOptions | None = None,
        emit: Callable[[Event], None] = lambda _event: None,
    ) -> None:
        self.transcriber, self.audio, self.emit = transcriber, audio, emit
        raw = RawFormat(audio.sample_format, audio.channels)
        base = options or TranscribeOptions()
        self.options = replace(base, raw=raw, sample_rate=audio.sample_rate, segmentation="vad")
        self.language = transcriber.model.in_language(self.options.language)
        self._reader = _QueueReader()
        self.received_bytes = 0
        self._arrivals: deque[tuple[int, float]] = deque()  # (bytes received by, when)
        self.closed_at: float | None = None
        self.warnings: list[str] = []
        self.checks_rate = self.options.check_rate is not False  # nothing vouches for the rate
        self.finals_wait = _HeldEvents(emit, holding=self.checks_rate)

    def feed(self, data: bytes) -> None:
        self.received_bytes += len(data)
        self._arrivals.append((self.received_bytes, time.monotonic()))
        self._reader.put(data)

    def lag_s(self, heard_s: float) -> float:
        """How long ago the audio at `heard_s` (seconds into the stream) arrived: how far
        the transcription runs behind the client."""
        position = heard_s * self.audio.sample_rate * self.audio.frame_bytes
        while len(self._arrivals) > 1 and self._arrivals[0][0] < position:
            self._arrivals.popleft()
        return time.monotonic() - self._arrivals[0][1] if self._arrivals else 0.0

    def close(self) -> None:
        if self.closed_at is None:
            self.closed_at = time.monotonic()
        self._reader.put(None)

    def bytes_until(self, seconds: float) -> int:
        """How many more bytes fit before the stream holds `seconds` of audio (whole
        samples of every channel)."""
        total = int(seconds * self.audio.sample_rate) * self.audio.frame_bytes
        return max(0, total - self.received_bytes)

    @property
    def received_s(self) -> float:
        """Seconds of audio received so far."""
        return self.received_bytes / self.audio.frame_bytes / self.audio.sample_rate

    def run(self) -> None:
        """Transcribe until the stream is closed; then a done event with the whole text."""
        model = self.transcriber.model
        opened = open_audio(
            self._reader,  # whatever has arrived: a buffered read would wait for 32 KB
            raw=self.options.raw,
            sample_rate=self.audio.sample_rate,
            block_samples=max(1, int(LIVE_BLOCK_S * self.audio.sample_rate)),
        )
        mono = to_mono(opened)
        if self.checks_rate:
            mono = self._rate_checked(mono)
        blocks = resample_stream(mono, self.audio.sample_rate, model.sampling_rate)
        finals = _Finals(self.transcriber, self.language, self.options, self.finals_wait.emit)
        decode = self.transcriber.decode(self.options)
        partials = _Partials(
            self.transcriber,
            self.language,
            decode,
            self.emit,
            finals,
            behind_s=self.lag_s,
        )
        try:  # the offline chain, with the partials tapping it between the VAD and the cuts
            for piece in self.transcriber.pieces(blocks, self.options, tap=partials.tap):
                finals.add(piece)
        except (EmptyAudioError, AudioTooShortError):
            pass  # a stream that ended before a word could be heard: done, with no words
        finals.finish()
        lag = time.monotonic() - self.closed_at if self.closed_at else 0.0
        text = " ".join(w.text for w in finals.words)
        facts = audio_info(opened, None, model.sampling_rate, self.received_s)
        audio = {**asdict(facts), "steps": facts.steps()}
        done = {"type": "done", "text": text, "duration": self.received_s, "lag_s": lag}
        self.emit({**done, "audio": audio, "warnings": self.warnings})

    def _rate_checked(self, mono: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """The blocks, passed on, while the declared rate is tested by the model as a
        file's given rate is: first on MIN_CHECK_S of the stream (at the declared rate), and
        again, if that found nothing, once the samples would hold CHECK_SPEECH_S of speech at
        the highest rival rate. A warning event says so if the speech clearly sounds like
        another rate; finals wait for the first check, so it comes before them."""
        declared = self.audio.sample_rate
        due = sorted({int(MIN_CHECK_S * declared), int(CHECK_SPEECH_S * max(rivals(declared)))})
        head: list[np.ndarray] = []
        held = checked = 0
        try:
            for block in mono:
                if due:
                    head.append(block)
                    held += len(block)
                    if held >= due[0]:
                        due = [] if self._check_rate(np.concatenate(head)) else due[1:]
                        checked = held
                        self.finals_wait.release()
                yield block
            if due and held > checked:  # the stream ended before the last check
                self._check_rate(np.concatenate(head))
        except SampleRateMismatchError:
            self.finals_wait.drop()  # strict: a refused stream's words are not sent
            raise
        finally:
            self.finals_wait.release()

    def _check_rate(self, samples: np.ndarray) -> bool:
        """Whether the check warned (and so is done)."""
        model, declared = self.transcriber.model, self.audio.sample_rate
        if len(samples) < MIN_CHECK_S * declared or not np.isfinite(samples).all():
            return False
        check = check_declared(samples, model, declared, rivals(declared))
        check.enforce(self.options.check_rate)  # strict: the stream ends with an error event
        warning = check.warning()
        if warning:
            self.warnings.append(warning)
            self.emit({"type": "warning", "message": warning})
        return warning is not None


class _HeldEvents:
    """Events passed on to `emit`, or, while `holding`, kept until `release` (in order) or
    `drop`; safe across threads (the rate check runs on the prefetching thread)."""

    def __init__(self, emit: Callable[[Event], None], holding: bool) -> None:
        self._emit, self._held, self._lock = emit, list[Event](), threading.Lock()
        self.holding = holding

    def emit(self, event: Event) -> None:
        with self._lock:
            if self.holding:
                self._held.append(event)
            else:
                self._emit(event)

    def release(self) -> None:
        with self._lock:
            self.holding = False
            for event in self._held:
                self._emit(event)
            self._held.clear()

    def drop(self) -> None:
        with self._lock:
            self.holding = False
            self._held.clear()


class _Finals:
    """A stream's frame decisions, stitched as offline, handed out word by word."""

    def __init__(
        self,
        transcriber: Transcriber,
        language: Language,
        options: TranscribeOptions,
        emit: Callable[[Event], None],
    ) -> None:
        model = transcriber.model
        self.transcriber, self.language, self.emit = transcriber, language, emit
        self.options = options
        self.vocab, self.frame_s = language.vocab, model.frame_seconds
        self.stitcher = Stitcher(model.hop, self.vocab.blank, self.vocab.delimiter)
        self.words: list[Word] = []
        self.heard_sample = 0  # model-rate samples up to the end of the last final

    def add(self, piece: Piece) -> None:
        self.stitcher.add(piece, self.transcriber.decide(piece, self.language, self.options))
        pending = self._pending()
        if piece.ends_in_pause:
            self._hand_out(pending, self.stitcher.done)
        elif len(pending) > 1:  # the last word may go on in the next cut
            self._hand_out(pending[:-1], round(pending[-1].start / self.frame_s))
        self.heard_sample = piece.first_frame * self.stitcher.hop + len(piece.samples)

    def finish(self) -> None:
        self._hand_out(self._pending(), self.stitcher.done)

    def _pending(self) -> tuple[Word, ...]:
        ids, probs = self.stitcher.arrays()
        return words_of(ids, probs, self.vocab, self.frame_s, first_frame=self.stitcher.taken)

    def _hand_out(self, words: Iterable[Word], upto_frame: int) -> None:
        words = list(words)
        self.stitcher.take(upto_frame)
        if not words:
            return
        self.words += words
        self.emit({"type": "final", **_segment(words)})


class _Partials:
    """Runs the model over speech not yet final, as the audio passes on to the VAD cuts.

    A partial shows everything since the last final at a bounded cost: the model runs over
    the last PARTIAL_WINDOW_S only, and the frames before it are those earlier partials
    computed with FROZEN_AFTER_S of audio after them (frames that late context no longer
    changes much). Partials come every PARTIAL_EVERY_S while the window is short, then every
    window / PARTIAL_RECOMPUTE: each audio second passes through the model about
    PARTIAL_RECOMPUTE times. While the audio being heard arrived more than MAX_BEHIND_S ago
    (a loaded machine, a client sending faster than real time), partials are skipped until
    the stream catches up: its finals never wait for them."""

    def __init__(
        self,
        transcriber: Transcriber,
        language: Language,
        decode: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        emit: Callable[[Event], None],
        finals: _Finals,
        behind_s: Callable[[float], float] = lambda _heard_s: 0.0,
    ) -> None:
        model = transcriber.model
        self.model, self.language, self.emit, self.finals = model, language, emit, finals
        self.decode, self.behind_s = decode, behind_s
        self.rate, self.hop = model.sampling_rate, model.hop
        self.recent: deque[np.ndarray] = deque()  # the last RECENT_S of audio
        self.recent_start = 0  # sample index of recent[0][0]
        self.received = 0
        self.last_partial = 0
        self.speech_until = 0  # sample index where the last speech frame ends
        self.vad_frames = 0  # VAD frames scored before the current block
        self.frozen = _Frames(0, None)  # log-probs since the last final, kept from partials
        self.shown = ""

    def tap(
        self, scored: Iterable[tuple[np.ndarray, np.ndarray]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for block, probs in scored:
            self._keep(block)
            frames = np.flatnonzero(np.asarray(probs) >= SPEECH_PROBABILITY)
            if len(frames):
                frame = round(VAD_FRAME_S * self.rate)
                ends = (self.vad_frames + frames[-1] + 1) * frame
                self.speech_until = min(self.received, ends)
            self.vad_frames += len(probs)
            if self._due():
                self._partial()
            yield block, probs

    def _keep(self, block: np.ndarray) -> None:
        self.recent.append(block)
        self.received += len(block)
        while self.recent and self.received - self.recent_start - len(self.recent[0]) >= (
            RECENT_S * self.rate
        ):
            self.recent_start += len(self.recent.popleft())

    def _due(self) -> bool:
        waited = self.received - self.last_partial
        every = max(PARTIAL_EVERY_S * self.rate, self._window()[1] / PARTIAL_RECOMPUTE)
        if waited < every:
            return False
        if self.behind_s(self.received / self.rate) > MAX_BEHIND_S:
            self.last_partial = self.received  # under load: this partial is skipped
            return False
        return True

    def _window(self) -> tuple[int, int]:
        """The first frame the model runs from next, and the samples it runs over: from
        the last final, or from FROZEN_CONTEXT_S before the frozen frames' end, or from
        PARTIAL_WINDOW_S before now, whichever is latest."""
        heard = -(-self.finals.heard_sample // self.hop)
        frozen = self.frozen.after(heard)
        recent = -(-self.recent_start // self.hop)
        start = min(
            (self.received - int(PARTIAL_WINDOW_S * self.rate)) // self.hop,
            frozen.end - round(FROZEN_CONTEXT_S * self.rate / self.hop),
        )
        start = max(heard, start, recent)
        return start, self.received - start * self.hop

    def _partial(self) -> None:
        self.last_partial = self.received
        heard = -(-self.finals.heard_sample // self.hop)
        if self.speech_until <= heard * self.hop:
            self.frozen = _Frames(heard, None)
            return  # nothing said since the last final
        first, length = self._window()
        if length < self.model.min_samples:
            return
        audio = np.concatenate(self.recent)[first * self.hop - self.recent_start :]
        (log_probs,) = self.model.log_probs_batch([audio], self.language.code)
        frames = self.frozen.after(heard).joined(first, log_probs)
        self.frozen = frames.until((self.received - int(FROZEN_AFTER_S * self.rate)) // self.hop)
        assert frames.log_probs is not None  # joined() always holds the new frames
        self._show(frames.first, frames.log_probs)

    def _show(self, first: int, log_probs: np.ndarray) -> None:
        ids, probs = self.decode(log_probs)
        seconds = self.model.frame_seconds
        words = words_of(ids, probs, self.language.vocab, seconds, first_frame=first)
        text = " ".join(w.text for w in words)
        if text and text != self.shown:
            self.shown = text
            self.emit({"type": "partial", **_segment(words)})


@dataclass(frozen=True)
class _Frames:
    """Log-probabilities of consecutive frames from frame `first` on (None: no frames)."""

    first: int
    log_probs: np.ndarray | None

    @property
    def end(self) -> int:
        return self.first + (0 if self.log_probs is None else len(self.log_probs))

    def after(self, frame: int) -> _Frames:
        """These frames from `frame` on (a final took those before it)."""
        if frame >= self.end:
            return _Frames(frame, None)
        if frame <= self.first or self.log_probs is None:
            return self
        return _Frames(frame, self.log_probs[frame - self.first :])

    def until(self, frame: int) -> _Frames:
        """These frames before `frame`."""
        if self.log_probs is None or frame <= self.first:
            return _Frames(self.first, None)
        return _Frames(self.first, self.log_probs[: frame - self.first])

    def joined(self, first: int, log_probs: np.ndarray) -> _Frames:
        """These frames, then `log_probs` (from frame `first` on) after them: where both
        have a frame these are kept, computed with more context before them. A gap is not
        bridged: then `log_probs` alone."""
        if self.log_probs is None or not self.first <= first <= self.end:
            return _Frames(first, log_probs)
        return _Frames(self.first, np.concatenate([self.log_probs, log_probs[self.end - first :]]))


def _segment(words: list[Word] | tuple[Word, ...]) -> Event:
    return {
        "text": " ".join(w.text for w in words),
        "start": words[0].start,
        "end": words[-1].end,
        "words": [openai_word(w) for w in words],
    }


class _QueueReader(io.RawIOBase):
    """A byte stream fed from another thread: reads wait for data; None ends it."""

    def __init__(self) -> None:
        self._chunks: queue.Queue[bytes | None] = queue.Queue()
        self._left = b""
        self._ended = False

    def put(self, data: bytes | None) -> None:
        self._chunks.put(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left and not self._ended:
            chunk = self._chunks.get()
            if chunk is None:
                self._ended = True
            else:
                self._left = chunk
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
