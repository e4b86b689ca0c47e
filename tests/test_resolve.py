"""Model resolution: explicit > $WAV2TEXT_MODEL > hub default (cached or reachable) > bundled."""

from __future__ import annotations

from pathlib import Path

import pytest

from wav2text.resolve import (
    BUNDLED_DIR,
    BUNDLED_MODEL,
    DEFAULT_MODEL,
    ENV_VAR,
    default_model_available,
    resolve_model,
)


def online(repo: str, revision: str | None) -> bool:
    return True


def offline(repo: str, revision: str | None) -> bool:
    return False


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_explicit_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "from/env")
    choice = resolve_model("some/model", hub_available=offline)
    assert (choice.name, choice.location, choice.reason, choice.notice) == (
        "some/model",
        "some/model",
        "argument",
        None,
    )


def test_explicit_bundled_name_is_the_package_directory() -> None:
    choice = resolve_model(BUNDLED_MODEL, hub_available=online)
    assert choice.location == str(BUNDLED_DIR) and choice.notice is None


def test_environment_before_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "from/env")
    choice = resolve_model(None, hub_available=online)
    assert (choice.name, choice.reason) == ("from/env", "environment")


def test_default_when_hub_model_available() -> None:
    choice = resolve_model(None, hub_available=online)
    assert (choice.name, choice.reason, choice.notice) == (DEFAULT_MODEL, "default", None)


def test_bundled_with_notice_when_offline() -> None:
    choice = resolve_model(None, hub_available=offline)
    assert choice.name == BUNDLED_MODEL and choice.location == str(BUNDLED_DIR)
    assert choice.notice and DEFAULT_MODEL in choice.notice and "--model" in choice.notice


def test_offline_flag_and_empty_cache_mean_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert not default_model_available(DEFAULT_MODEL, None)


def test_cached_default_is_available_offline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A model in the HF cache counts as available without any network."""
    from huggingface_hub import constants

    snapshot = tmp_path / "models--facebook--wav2vec2-base-960h" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    refs = snapshot.parent.parent / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert default_model_available(DEFAULT_MODEL, None)
