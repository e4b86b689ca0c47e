"""Language codes for multilingual adapter models (MMS), whose languages are ISO 639-3
codes ("fra"); the two-letter ISO 639-1 codes OpenAI clients send ("fr") are mapped to them."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import OptionsError


def language_code(requested: str, available: Sequence[str], model_name: str) -> str:
    """The model's own code for `requested`, or OptionsError listing the ones it has."""
    code = requested.strip().lower()
    if code in available:
        return code
    mapped = _iso639_3(code)
    if mapped in available:
        return mapped  # type: ignore[return-value]
    via = f" ({mapped} in ISO 639-3)" if mapped else ""
    raise OptionsError(
        f"{model_name} has no language {requested!r}{via}; it has {listed(available)}"
    )


def listed(names: Sequence[str], shown: int = 12) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _iso639_3(code: str) -> str | None:
    if len(code) != 2:
        return None
    import pycountry  # ~30 ms of ISO tables: loaded only when a two-letter code comes

    found = pycountry.languages.get(alpha_2=code)
    return str(found.alpha_3) if found else None
