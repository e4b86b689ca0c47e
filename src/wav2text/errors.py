"""Typed errors. Each message says what is wrong and what to do about it, in the words of
the place it is read: Python code, the command line, or an HTTP client (the server's
answers, the page, a live stream)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "report": a row of a report (eval's), where no option can be changed: the problem alone
Surface = Literal["python", "cli", "http", "report"]


@dataclass(frozen=True)
class Fix:
    """What to do about an error, worded for each surface (each a clause that follows the
    problem after "; ")."""

    python: str
    cli: str
    http: str

    def after(self, lead: str) -> Fix:
        """The same fix, each wording led by `lead` ("if it is headerless PCM, ")."""
        return Fix(lead + self.python, lead + self.cli, lead + self.http)


# fixes several errors share
GIVE_RATE = Fix(
    "pass sample_rate=RATE, e.g. 16000 for wideband or 8000 for telephone audio",
    "add --sample-rate RATE, e.g. 16000 for wideband or 8000 for telephone audio",
    "send the form field sample_rate=RATE, e.g. 16000 for wideband or 8000 for telephone audio",
)
RAW = Fix(
    "pass raw=RawFormat(FMT) and sample_rate=N",
    "add --raw FMT --sample-rate N (or --raw auto --sample-rate auto)",
    "send the form fields raw=FMT (s16le, f32le, ...) and sample_rate=N",
)


class Wav2TextError(Exception):
    """Base class of every error wav2text raises on purpose. str() is the Python wording;
    worded(surface) the CLI's or HTTP's."""

    def __init__(self, problem: str = "", fix: Fix | None = None) -> None:
        self.problem, self.fix = problem, fix
        super().__init__(self.worded("python"))

    def __reduce__(self) -> tuple[type, tuple[str, Fix | None]]:
        # a worker process's error keeps its fix per surface (pickling keeps args alone)
        return type(self), (self.problem, self.fix)

    def worded(self, surface: Surface) -> str:
        if self.fix is None or surface == "report":
            return self.problem
        return f"{self.problem}; {getattr(self.fix, surface)}"


class AudioDecodeError(Wav2TextError):
    """The input could not be read as audio (not audio, corrupt, unsupported)."""


class TruncatedAudioError(AudioDecodeError):
    """Fewer samples decoded than the file declares: it was cut short or is damaged."""


class NoAudioStreamError(AudioDecodeError):
    """The container holds no audio stream (or not the one asked for)."""


class EmptyAudioError(Wav2TextError):
    """The input holds zero samples."""


class AudioTooShortError(Wav2TextError):
    """The input is shorter than one frame of the model's receptive field."""


class AudioTooLongError(Wav2TextError):
    """The audio is longer than the caller allows (TranscribeOptions.max_duration_s)."""


class TimeLimitError(Wav2TextError):
    """The work took longer than the caller allows (TranscribeOptions.time_limit_s)."""


class InvalidAudioError(Wav2TextError):
    """The samples themselves are unusable (NaN/Inf, wrong dtype or shape)."""


class InvalidSampleRateError(Wav2TextError):
    """A sampling rate that is zero, negative, not an integer or absurd."""


class SampleRateMismatchError(Wav2TextError):
    """A declared rate the speech clearly does not fit, refused (check_rate="strict")."""


class UnknownSampleRateError(Wav2TextError):
    """Audio without a header was given without its sampling rate."""


class ModelLoadError(Wav2TextError):
    """The model or its processor could not be loaded, or is not a CTC model."""


class OptionsError(Wav2TextError):
    """Options that contradict each other or are out of range."""


def reason(error: BaseException, surface: Surface = "python") -> str:
    """What to tell the user: our errors in the surface's words, an operating system's
    error as what it is, anything else as a bug to report."""
    if isinstance(error, Wav2TextError):
        return error.worded(surface)
    if isinstance(error, OSError) and error.strerror:  # "Permission denied", "Is a directory"
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    return f"unexpected {type(error).__name__}: {error} (please report)"


def about(name: str, error: BaseException | str, surface: Surface = "python") -> str:
    """`name: reason`, once: messages that already begin with the input's name keep it."""
    said = error if isinstance(error, str) else reason(error, surface)
    return said if said.startswith(f"{name}: ") else f"{name}: {said}"
