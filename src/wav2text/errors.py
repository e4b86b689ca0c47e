"""Typed errors. Each message says what is wrong and what to do about it."""

from __future__ import annotations


class Wav2TextError(Exception):
    """Base class of every error wav2text raises on purpose."""


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


class UnknownSampleRateError(Wav2TextError):
    """Audio without a header was given without its sampling rate."""


class ModelLoadError(Wav2TextError):
    """The model or its processor could not be loaded, or is not a CTC model."""


class OptionsError(Wav2TextError):
    """Options that contradict each other or are out of range."""


def reason(error: BaseException) -> str:
    """What to tell the user: our errors as they are, anything else as a bug to report."""
    if isinstance(error, Wav2TextError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error} (please report)"


def about(name: str, error: BaseException | str) -> str:
    """`name: reason`, once: messages that already begin with the input's name keep it."""
    said = error if isinstance(error, str) else reason(error)
    return said if said.startswith(f"{name}: ") else f"{name}: {said}"
