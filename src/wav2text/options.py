"""Options as frozen dataclasses: the one public way to configure wav2text."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import Fix, OptionsError
from .rate import CANDIDATE_RATES, RATE_CONFIDENCE, RateChoice, valid_rate
from .rawformat import RAW_FORMATS

Device = str  # "auto", "cpu", "cuda", "cuda:1", "mps", ...
DType = Literal["float32", "bfloat16", "float16"]
Segmentation = Literal["vad", "window"]
ChannelMode = Literal["mix", "split"]

DTYPES: tuple[DType, ...] = ("float32", "bfloat16", "float16")
Runtime = Literal["torch", "onnxruntime", "openvino"]
RUNTIMES: tuple[Runtime, ...] = ("torch", "onnxruntime", "openvino")
# The dtypes each exported runtime runs on CPU (ONNX Runtime has no bf16/fp16 CPU kernels;
# OpenVINO's are precision hints, AMX or FP16 units); both also run quantize="int8"
# (wav2text.int8) where the CPU has int8 dot-product units
RUNTIME_DTYPES: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("float32",),
    "openvino": ("float32", "bfloat16", "float16"),
}
SEGMENTATIONS: tuple[Segmentation, ...] = ("vad", "window")
# chosen by benchmarks/bench_hotwords.py (docs/decoding.md#hotwords): with the model's LM,
# and without one, where a hotword competes with free spellings rather than LM words
HOTWORD_WEIGHT = 7.0
HOTWORD_WEIGHT_WITHOUT_LM = 20.0

DEFAULT_CHUNK_LENGTH_S = 30.0  # model window; attention cost grows with its square
DEFAULT_STRIDE_LENGTH_S = 5.0  # context on each side of a window, dropped after the model
SPEECH_PAD_S = 0.2  # audio kept before and after detected speech: no word edge is lost
MIN_PAUSE_S = 0.5  # shorter pauses stay inside a speech segment (the model keeps context)
MIN_SEGMENT_S = 4 * MIN_PAUSE_S  # a segment's longest must leave room to find a pause in it


@dataclass(frozen=True)
class RawFormat:
    """How to read headerless PCM: FFmpeg sample format name (or "auto") and channel count."""

    sample_format: str = "s16le"
    channels: int | None = None  # None: told from the bytes with "auto", else 1

    def __post_init__(self) -> None:
        if self.sample_format not in (*RAW_FORMATS, "auto"):
            raise OptionsError(
                f"unknown raw sample format {self.sample_format!r}; "
                f"use one of: {', '.join(RAW_FORMATS)}, or auto to detect it"
            )
        if self.channels is not None and (
            not isinstance(self.channels, int) or not 1 <= self.channels <= 64
        ):
            raise OptionsError(f"raw channel count must be 1..64, got {self.channels!r}")


@dataclass(frozen=True)
class ModelOptions:
    """Which CTC model to load and where to run it."""

    model: str | Path | None = None  # hub id or local directory; None: the default model
    revision: str | None = None
    device: Device = "auto"
    dtype: DType = "float32"
    quantize: Literal["int8"] | None = None  # dynamic int8 linear layers (CPU, float32)
    threads: int | None = None  # CPU threads for the model (torch's own default: all cores)
    language: str | None = None  # adapter of a multilingual model (MMS: ISO 639-3, e.g. "fra")
    # Beam search with a word n-gram LM (wav2text.lm). "auto": the model's own
    # language_model/ folder if it ships one; None: greedy decoding; else a folder or ARPA file.
    lm: str | Path | None = "auto"
    beam_size: int = 100  # hypotheses kept (pyctcdecode's default beam width)
    lm_alpha: float | None = None  # LM weight (natural-log scale); None: the LM's attrs.json
    lm_beta: float | None = None  # score added per word; None: the LM's attrs.json
    # Where the forward pass runs: eager PyTorch, or the model exported once (cached) to
    # ONNX Runtime or OpenVINO on CPU (wav2text.runtime)
    runtime: Runtime = "torch"

    def __post_init__(self) -> None:
        if not isinstance(self.beam_size, int) or not 1 <= self.beam_size <= MAX_BEAM:
            raise OptionsError(
                f"beam_size must be a whole number from 1 to {MAX_BEAM}, got {self.beam_size!r}"
            )
        for name in ("lm_alpha", "lm_beta"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise OptionsError(f"{name} must be a finite number, got {value}")
        if self.lm is None and (self.lm_alpha is not None or self.lm_beta is not None):
            raise OptionsError(
                "LM weights are given, but no language model",
                Fix(
                    "lm_alpha and lm_beta weigh a language model and lm is None: drop them, "
                    "or name one",
                    "--lm-alpha and --lm-beta weigh a language model and --lm is none: drop "
                    "them, or name one",
                    "start the server with a language model, or without --lm-alpha/--lm-beta",
                ),
            )
        if self.dtype not in DTYPES:
            raise OptionsError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.quantize not in (None, "int8"):
            raise OptionsError(f"quantize must be 'int8' or None, got {self.quantize!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise OptionsError(f"threads must be a whole number >= 1, got {self.threads!r}")
        if self.quantize and self.dtype != "float32":
            raise OptionsError("quantize='int8' quantises a float32 model: leave dtype float32")
        self._check_runtime()

    def _check_runtime(self) -> None:
        if self.runtime not in RUNTIMES:
            raise OptionsError(
                f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}"
            )
        if self.runtime == "torch":
            return
        if self.device not in ("auto", "cpu"):
            raise OptionsError(
                f"runtime {self.runtime!r} runs on the CPU, not on {self.device}",
                Fix(
                    "use runtime='torch' there",
                    "use --runtime torch there",
                    "start the server with --runtime torch",
                ),
            )
        dtypes = RUNTIME_DTYPES[self.runtime]
        if self.dtype not in dtypes:
            raise OptionsError(
                f"runtime {self.runtime!r} runs {' or '.join(dtypes)}, not {self.dtype}",
                Fix(
                    "for speed use quantize='int8'",
                    "for speed use --quantize int8",
                    "start the server with --quantize int8 for speed",
                ),
            )


@dataclass(frozen=True)
class TranscribeOptions:
    """How to read one input and how to run the model over it.

    sample_rate: the input's rate in Hz. Required for arrays and raw PCM; for files
        with a header it overrides the header (use it when the header is wrong).
        "auto": estimate it from the audio with the model (see wav2text.estimation);
        UnknownSampleRateError when the estimate is not confident.
    rate_candidates: the rates "auto" chooses from.
    rate_confidence: how sure "auto" must be (the probability that the true rate lies
        within 10 % of its estimate) before it answers instead of raising.
    check_rate: test a declared rate against the standard rates (and its half and double)
        with the model; one the speech clearly does not fit adds a warning to the transcript
        (the rate is still used). None (default): the rate given for headerless PCM (raw=),
        which has no header to vouch for it; True: any declared rate, headers' too; "strict":
        as True, and a rate the speech clearly does not fit raises SampleRateMismatchError
        instead of a warning; False: none.
    raw: read the input as headerless PCM in this format.
    stream_index: which audio stream of a container (0 = first audio stream).
    channel: keep only this channel instead of averaging all channels.
    channels: "mix" (default) averages the channels into one transcript; "split"
        transcribes each channel alone (one speaker per channel: calls, interviews) and
        merges the words in time order, each labelled with its channel; channels holding
        the same audio are transcribed once.
    segmentation: "vad" runs the model only on speech found by Silero VAD, cut at pauses
        into segments of at most max_segment_s (no overlap, no silence computed);
        "window" runs it on every strided window (chunk_length_s / stride_length_s).
    max_segment_s: the longest VAD segment; None: the model's window length.
    chunk_length_s / stride_length_s: model window and the context kept on each side;
        None: what the model's config asks for (`wav2text_window_s`), else 30 s / 5 s.
    batch_size: segments per forward pass (similar lengths grouped; results unchanged).
    char_timestamps: also report each character's start, end and confidence.
    allow_truncated: transcribe what decodes of a file that is cut short, instead of
        raising TruncatedAudioError.
    progress: a callable given (seconds read, total seconds or None) as the input is read,
        for a progress bar on one long file.
    max_duration_s / time_limit_s: refuse audio longer than this (AudioTooLongError:
        from a container's declared length at once, else as it decodes) / work that takes
        longer than this (TimeLimitError); for servers and batch jobs that must stay bounded.
    open_timeout_s: how long to wait for the first bytes of a FIFO given by path (a named
        pipe another program writes to) before TimeLimitError; None: as long as it takes,
        with a WaitingForWriterWarning after 3 s.
    hotwords: words and phrases the audio is expected to hold (names, terms), each with
        its own weight if written "phrase:WEIGHT": the beam search favours each of their
        words, and spells one its language model does not know. A model without an n-gram
        LM decodes them with a beam search over its tokens instead of greedily.
    hotword_weight: the bonus (natural log, per word) of a hotword where it ends: 0 none,
        higher makes a hotword win against more acoustic evidence (and insert it more
        readily where it was not said); None: HOTWORD_WEIGHT (7) with the model's LM,
        HOTWORD_WEIGHT_WITHOUT_LM (20) without one.
    language: run a multilingual adapter model (MMS) in this language: its ISO 639-3
        code ("fra") or the ISO 639-1 one ("fr"); None: the language it was loaded with.
        OptionsError for a model with one language or without this one.
    """

    sample_rate: RateChoice = None
    raw: RawFormat | None = None
    stream_index: int = 0
    channel: int | None = None
    channels: ChannelMode = "mix"
    segmentation: Segmentation = "vad"
    max_segment_s: float | None = None
    chunk_length_s: float | None = None
    stride_length_s: float | None = None
    batch_size: int = 1
    char_timestamps: bool = False
    allow_truncated: bool = False
    max_duration_s: float | None = None  # longer audio: AudioTooLongError (None: any)
    time_limit_s: float | None = None  # slower work: TimeLimitError (None: no limit)
    open_timeout_s: float | None = None  # a FIFO with no writer: TimeLimitError (None: wait)
    # called as audio is read: (seconds read, seconds in all if the container says)
    progress: Callable[[float, float | None], None] | None = None
    rate_candidates: tuple[int, ...] = CANDIDATE_RATES
    rate_confidence: float = RATE_CONFIDENCE
    check_rate: bool | Literal["strict"] | None = None
    language: str | None = None
    hotwords: tuple[str, ...] = ()
    hotword_weight: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, str) and self.sample_rate != "auto":
            raise OptionsError(
                f"sample_rate must be a number of Hz or 'auto', got {self.sample_rate!r}"
            )
        if self.sample_rate not in (None, "auto"):
            object.__setattr__(self, "sample_rate", valid_rate(self.sample_rate))
        if self.check_rate not in (None, True, False, "strict"):
            raise OptionsError(
                f'check_rate is None, True, False or "strict", got {self.check_rate!r}'
            )
        if len(self.rate_candidates) < 2:
            raise OptionsError("rate_candidates needs at least two rates to choose from")
        object.__setattr__(self, "rate_candidates", tuple(map(valid_rate, self.rate_candidates)))
        if not 0 < self.rate_confidence <= 1:
            raise OptionsError(
                "rate_confidence is a probability above 0 and at most 1, "
                f"got {self.rate_confidence}"
            )
        if self.segmentation not in SEGMENTATIONS:
            raise OptionsError(
                f"segmentation must be one of {', '.join(SEGMENTATIONS)}, got {self.segmentation!r}"
            )
        for name in ("max_segment_s", "chunk_length_s", "stride_length_s"):
            _seconds(name, getattr(self, name), MAX_WINDOW_S)
        if self.max_segment_s is not None and self.max_segment_s < MIN_SEGMENT_S:
            raise OptionsError(
                f"max_segment_s must be at least {MIN_SEGMENT_S} s, got {self.max_segment_s}"
            )
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise OptionsError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        if self.stream_index < 0:
            raise OptionsError(f"stream_index must be >= 0, got {self.stream_index}")
        if self.channel is not None and self.channel < 0:
            raise OptionsError(f"channel must be >= 0, got {self.channel}")
        for name in ("max_duration_s", "time_limit_s", "open_timeout_s"):
            value = getattr(self, name)
            if value is not None and not 0 < value < float("inf"):
                raise OptionsError(f"{name} must be a positive number of seconds, got {value}")
        if self.channels not in ("mix", "split"):
            raise OptionsError(f"channels must be 'mix' or 'split', got {self.channels!r}")
        if self.channels == "split" and self.channel is not None:
            raise OptionsError(
                "channels='split' transcribes every channel; channel= keeps one: use one of them"
            )
        if self.chunk_length_s is not None and self.stride_length_s is not None:
            check_window(self.chunk_length_s, self.stride_length_s)
        _check_hotwords(self.hotwords, self.hotword_weight)


def _check_hotwords(hotwords: object, weight: float | None) -> None:
    if isinstance(hotwords, str) or not isinstance(hotwords, tuple):
        raise OptionsError(
            f"hotwords is a tuple of words or phrases, e.g. ('Ahab', 'Nantucket:12'), "
            f"not {type(hotwords).__name__}"
        )
    if weight is not None and not (0 <= weight < float("inf")):
        raise OptionsError(f"hotword_weight is a finite number >= 0 or None, got {weight}")
    weighted_hotwords(hotwords, HOTWORD_WEIGHT if weight is None else weight)


def hotword_list(text: str) -> tuple[str, ...]:
    """Hotwords as a form field or query parameter carries them: separated by commas or
    new lines ("Ahab, Nantucket:12, white whale")."""
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())


PROMPT_WORD_LETTERS = 4  # a prompt's shorter words ("the", "and") are not taken as hotwords


def prompt_hotwords(prompt: str) -> tuple[str, ...]:
    """OpenAI's `prompt` read as hotwords: its distinct words of 4 letters or more."""
    words = ("".join(c for c in w if c.isalpha() or c == "'") for w in prompt.split())
    kept = (w.strip("'") for w in words)
    return tuple(dict.fromkeys(w for w in kept if len(w) >= PROMPT_WORD_LETTERS))


def weighted_hotwords(hotwords: tuple[str, ...], weight: float) -> tuple[tuple[str, float], ...]:
    """Each hotword as (phrase, weight): "Nantucket:12" weighs 12, "Ahab" the default."""
    weighted = []
    for entry in hotwords:
        if not isinstance(entry, str):
            raise OptionsError(f"a hotword is a string, not {type(entry).__name__}")
        phrase, colon, given = entry.rpartition(":")
        if not colon or not _is_number(given):
            phrase, given = entry, ""
        if not phrase.strip() or not any(c.isalpha() for c in phrase):
            raise OptionsError(f"hotword {entry!r} holds no word; give a word or phrase")
        value = float(given) if given else weight
        if not 0 <= value < float("inf"):
            raise OptionsError(f"hotword {entry!r}: its weight is a finite number >= 0")
        weighted.append((" ".join(phrase.split()), value))
    return tuple(weighted)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


MAX_WINDOW_S = 600.0  # a window or segment longer than this would need hours of attention
MAX_BEAM = 10_000


def _seconds(name: str, value: float | None, most: float) -> None:
    """None, or a number of seconds above 0 and at most `most`: NaN and inf refused."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= most:
        raise OptionsError(
            f"{name} must be a number of seconds above 0 and at most {most:g}, got {value!r}"
        )


def check_window(chunk_s: float, stride_s: float) -> None:
    if stride_s <= 0 or chunk_s <= 2 * stride_s:
        raise OptionsError(
            f"need chunk_length_s > 2 * stride_length_s > 0, got chunk "
            f"{chunk_s} s and stride {stride_s} s; e.g. chunk 30 s with stride 5 s"
        )


@dataclass(frozen=True)
class ServerLimits:
    """What one server takes on; past either limit a request is refused, not queued forever."""

    max_upload_mb: float | None = 1024.0  # an upload is spooled to disk; None: no limit
    max_waiting: int = 8  # requests waiting for the model; more get 503 (clients retry)
    max_streams: int = 4  # live streams at once; one more is refused (it would fall behind)
    stream_idle_s: float = 30.0  # a live stream that sends nothing this long is closed
    stream_max_s: float = 4 * 3600.0  # the most audio one live stream may send
    max_audio_s: float | None = 4 * 3600.0  # a request's audio, by header and as it decodes
    max_request_s: float | None = 3600.0  # a request's transcription time
    headers_timeout_s: float = 10.0  # a request's headers must all be in within this
    body_timeout_s: float = 30.0  # no longer gap in a request body (and its grace period)
    min_body_rate: float = 4096.0  # bytes per second a body must average after its grace
    keep_alive_s: float = 5.0  # an idle kept-alive connection is closed after this
    max_connections: int = 256  # open connections and tasks; more get 503 at once
    drain_s: float = 30.0  # on SIGTERM: the longest requests and live streams get to finish
    job_ttl_s: float = 24 * 3600.0  # a finished job (and its results) is kept this long

    def __post_init__(self) -> None:
        if self.max_upload_mb is not None and not 0 < self.max_upload_mb < float("inf"):
            raise OptionsError(f"max_upload_mb must be positive, got {self.max_upload_mb}")
        if self.max_waiting < 0:
            raise OptionsError(f"max_waiting must be 0 or more, got {self.max_waiting}")
        if self.max_streams < 0:
            raise OptionsError(f"max_streams must be 0 or more, got {self.max_streams}")
        positive = ("stream_idle_s", "stream_max_s", "headers_timeout_s", "body_timeout_s",
                    "keep_alive_s", "min_body_rate", "max_audio_s", "max_request_s",
                    "drain_s", "job_ttl_s")  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if value is not None and not 0 < value < float("inf"):
                raise OptionsError(f"{name} must be a positive finite number, got {value}")
        if self.max_connections < 1:
            raise OptionsError(f"max_connections must be 1 or more, got {self.max_connections}")
