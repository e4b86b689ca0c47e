"""wav2text: any audio in, the right rate and layout for a CTC model, a transcript out.

The names below are imported on first use, so that `import wav2text` (and the CLI's
`--help`) does not load torch and transformers until a model is needed.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        AudioDecodeError,
        AudioTooLongError,
        AudioTooShortError,
        EmptyAudioError,
        InvalidAudioError,
        InvalidSampleRateError,
        ModelLoadError,
        NoAudioStreamError,
        OptionsError,
        SampleRateMismatchError,
        TimeLimitError,
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

_HOMES = {
    "errors": (
        "AudioDecodeError",
        "AudioTooLongError",
        "AudioTooShortError",
        "EmptyAudioError",
        "InvalidAudioError",
        "InvalidSampleRateError",
        "ModelLoadError",
        "NoAudioStreamError",
        "OptionsError",
        "SampleRateMismatchError",
        "TimeLimitError",
        "TruncatedAudioError",
        "UnknownSampleRateError",
        "Wav2TextError",
    ),
    "lm": ("LanguageModelWarning",),
    "options": ("ModelOptions", "RawFormat", "TranscribeOptions"),
    "pipeline": ("Transcriber", "transcribe"),
    "resolve": ("BUNDLED_MODEL", "DEFAULT_MODEL", "BundledModelWarning"),
    "results": ("AudioInfo", "Char", "Segment", "Transcript", "Word"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BUNDLED_MODEL",
    "DEFAULT_MODEL",
    "AudioDecodeError",
    "AudioInfo",
    "AudioTooLongError",
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
    "SampleRateMismatchError",
    "Segment",
    "TimeLimitError",
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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'wav2text' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__
