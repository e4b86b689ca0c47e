"""wav2text: any audio in, the right rate and layout for a CTC model, a transcript out."""

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    AudioDecodeError,
    AudioTooShortError,
    EmptyAudioError,
    InvalidAudioError,
    InvalidSampleRateError,
    ModelLoadError,
    NoAudioStreamError,
    OptionsError,
    TruncatedAudioError,
    UnknownSampleRateError,
    Wav2TextError,
)
from .lm import LanguageModelWarning
from .options import ModelOptions, RawFormat, TranscribeOptions
from .pipeline import Transcriber, transcribe
from .resolve import BUNDLED_MODEL, DEFAULT_MODEL, BundledModelWarning
from .results import AudioInfo, Char, Segment, Transcript, Word

try:
    __version__ = version("wav2text")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BUNDLED_MODEL",
    "DEFAULT_MODEL",
    "AudioDecodeError",
    "AudioInfo",
    "AudioTooShortError",
    "BundledModelWarning",
    "Char",
    "EmptyAudioError",
    "InvalidAudioError",
    "InvalidSampleRateError",
    "LanguageModelWarning",
    "ModelLoadError",
    "ModelOptions",
    "NoAudioStreamError",
    "OptionsError",
    "RawFormat",
    "Segment",
    "TranscribeOptions",
    "Transcriber",
    "Transcript",
    "TruncatedAudioError",
    "UnknownSampleRateError",
    "Wav2TextError",
    "Word",
    "__version__",
    "transcribe",
]
