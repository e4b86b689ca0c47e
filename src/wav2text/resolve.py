"""Which model to load: explicit name > $WAV2TEXT_MODEL > the hub default > the bundled demo.

The hub default is used when it is in the local Hugging Face cache or the hub answers;
otherwise the small English model shipped inside the package runs, with a notice, so
that wav2text works offline on a fresh machine.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "facebook/wav2vec2-base-960h"
BUNDLED_MODEL = "wav2text:demo-en"
BUNDLED_DIR = Path(__file__).parent / "bundled" / "demo-en"
ENV_VAR = "WAV2TEXT_MODEL"
_HUB_TIMEOUT_S = 3.0


class BundledModelWarning(UserWarning):
    """The bundled demo model runs because no better model was named or reachable."""


@dataclass(frozen=True)
class ModelChoice:
    name: str  # as reported in results: a hub id, a path, or BUNDLED_MODEL
    location: str  # what from_pretrained loads
    reason: str  # "argument", "environment", "default", "offline fallback"
    notice: str | None = None


def resolve_model(
    requested: str | Path | None,
    revision: str | None = None,
    hub_available: Callable[[str, str | None], bool] | None = None,
) -> ModelChoice:
    if requested is not None:
        return _named(str(requested), "argument")
    if os.environ.get(ENV_VAR):
        return _named(os.environ[ENV_VAR], "environment")
    if (hub_available or default_model_available)(DEFAULT_MODEL, revision):
        return ModelChoice(DEFAULT_MODEL, DEFAULT_MODEL, "default")
    notice = (
        f"{DEFAULT_MODEL} is neither in the Hugging Face cache nor reachable, so the bundled "
        f"demo model {BUNDLED_MODEL} runs (English, trained on synthetic speech only); for real "
        f"recordings run once with network access, or pass --model / set {ENV_VAR}"
    )
    return ModelChoice(BUNDLED_MODEL, str(BUNDLED_DIR), "offline fallback", notice)


def _named(name: str, reason: str) -> ModelChoice:
    location = str(BUNDLED_DIR) if name == BUNDLED_MODEL else name
    return ModelChoice(name, location, reason)


def default_model_available(repo: str, revision: str | None) -> bool:
    """In the local cache, or the hub answers within a few seconds."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo, "config.json", revision=revision), str):
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    url = f"{constants.ENDPOINT}/api/models/{repo}"
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=_HUB_TIMEOUT_S):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False
