"""The transcription form's fields as TranscribeOptions: OpenAI's (`language`, `prompt`,
`response_format`, `timestamp_granularities[]`) and wav2text's own (`hotwords`,
`sample_rate`, `raw`, `channels`, `split_channels`). Requests and jobs read them alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import Form

from ..errors import OptionsError, Wav2TextError
from ..language import language_code
from ..lm import spell_words
from ..options import RawFormat, TranscribeOptions, hotword_list, prompt_hotwords
from ..pipeline import Transcriber
from ..rate import parse_rate
from ..rawformat import RAW_FORMATS
from ..writers import RESPONSE_WRITERS, VerboseJsonWriter, Writer


class FormError(OptionsError):
    """A form field the server cannot take; `param` names it (OpenAI's error field)."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class FormFields:
    """The fields that shape a transcription, as the client sent them."""

    language: str | None = None
    prompt: str | None = None
    hotwords: str | None = None
    sample_rate: str | None = None
    raw: str | None = None
    channels: str | None = None
    split_channels: bool = False
    check_rate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def form_fields(
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    hotwords: Annotated[str | None, Form()] = None,
    sample_rate: Annotated[str | None, Form()] = None,
    raw: Annotated[str | None, Form()] = None,
    channels: Annotated[str | None, Form()] = None,
    split_channels: Annotated[bool, Form()] = False,
    check_rate: Annotated[str | None, Form()] = None,
) -> FormFields:
    """The fields as a FastAPI dependency: `Annotated[FormFields, Depends(form_fields)]`."""
    return FormFields(
        language, prompt, hotwords, sample_rate, raw, channels, split_channels, check_rate
    )


def form_options(
    transcriber: Transcriber, defaults: TranscribeOptions, form: FormFields
) -> TranscribeOptions:
    """The request's options: the server's defaults changed by its fields (FormError names
    the field at fault)."""
    try:
        count = None if form.channels is None else _count(form.channels)
        options = _request_options(defaults, form.sample_rate, form.raw, count)
        if form.check_rate is not None:
            options = replace(options, check_rate=check_rate_field(form.check_rate))
        if form.split_channels:
            options = replace(options, channels="split")
        options = _with_hotwords(transcriber, options, form.hotwords, form.prompt)
    except OptionsError as error:
        raise FormError(str(error), field_of(str(error))) from error
    try:
        chosen = _language(transcriber, form.language)
    except OptionsError as error:
        raise FormError(str(error), "language") from error
    return replace(options, language=chosen)


def _language(transcriber: Transcriber, language: str | None) -> str | None:
    """The language a multilingual model runs this request in; None: the one it was
    started with. A one-language model ignores the field (OpenAI clients often send it)."""
    model = transcriber.model
    if not language or not model.languages:
        return None
    return language_code(language, model.languages, model.name)


def _request_options(
    defaults: TranscribeOptions, sample_rate: str | None, raw: str | None, channels: int | None
) -> TranscribeOptions:
    rate = defaults.sample_rate if sample_rate is None else _field("sample_rate", sample_rate)
    if raw is not None and raw not in (*RAW_FORMATS, "auto"):  # the form's words, not Python's
        raise OptionsError(f"raw must be one of {', '.join(RAW_FORMATS)} or auto, not {raw!r}")
    if raw is None and channels is not None:
        raise OptionsError("channels describes raw input: send it with raw")
    raw_format = RawFormat(raw, channels) if raw else None
    return replace(defaults, sample_rate=rate, raw=raw_format)


def _with_hotwords(
    transcriber: Transcriber, options: TranscribeOptions, hotwords: str | None, prompt: str | None
) -> TranscribeOptions:
    """The server's hotwords, the request's `hotwords` field and its `prompt`'s words, each
    one the model can take (else the field is refused before the upload is read)."""
    spellable = spell_words(prompt_hotwords(prompt or ""), transcriber.model.vocab)
    given = hotword_list(hotwords or "") + tuple(spellable)  # a prompt: no refusal over it
    if not given:
        return options
    try:
        chosen = replace(options, hotwords=options.hotwords + given)
        transcriber.decode(chosen)
    except OptionsError as error:
        raise OptionsError(f"hotwords: {error}") from error
    return chosen


def check_rate_field(given: str) -> bool | Literal["strict"]:
    """check_rate as a form field or query parameter: true (check the declared rate, warn
    on a mismatch), false (no check) or strict (refuse a mismatch)."""
    if given.lower() not in ("true", "false", "strict"):
        raise OptionsError(f"check_rate is true, false or strict, not {given[:20]!r}")
    return "strict" if given.lower() == "strict" else given.lower() == "true"


def _count(text: str) -> int:
    """A channel count from a form: ASCII digits only, as the CLI takes it."""
    if not (text.isascii() and text.isdigit() and len(text) <= 2):
        raise OptionsError(f"channels must be a whole number of 1..64, not {text[:20]!r}")
    return int(text)


def _field(name: str, text: str) -> int | Literal["auto"]:
    try:
        return parse_rate(text)
    except Wav2TextError as error:
        raise OptionsError(f"{name}: {error}") from error


FORM_FIELDS = (
    "sample_rate",
    "raw",
    "channels",
    "response_format",
    "timestamp_granularities[]",
    "hotwords",
    "check_rate",
)


def field_of(message: str) -> str | None:
    """The form field a message about one names first (OpenAI's `param`)."""
    first = message.split(" ", 1)[0].rstrip(":")
    if first == "word":  # "word timestamps need response_format=verbose_json"
        return "timestamp_granularities[]"
    return first if first in FORM_FIELDS else None


class NamedUpload:
    """An upload's spooled file under the name its client gave it, so that an error about
    it names the file the user sent."""

    def __init__(self, file: BinaryIO, name: str) -> None:
        self._file, self.name = file, name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._file, attribute)


def response_writer(name: str, granularities: list[str]) -> Writer:
    """The writer for `response_format` and `timestamp_granularities[]`."""
    if name not in RESPONSE_WRITERS:
        raise OptionsError(
            f"response_format must be one of {', '.join(RESPONSE_WRITERS)}, not {name!r}"
        )
    unknown = set(granularities) - {"word", "segment"}
    if unknown:
        raise OptionsError(f"timestamp_granularities[] takes word and segment, not {unknown}")
    writer = RESPONSE_WRITERS[name]
    if isinstance(writer, VerboseJsonWriter):
        return replace(writer, granularities=tuple(granularities))
    if "word" in granularities:
        raise OptionsError("word timestamps need response_format=verbose_json")
    return writer
