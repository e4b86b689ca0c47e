"""The suite tests the checkout it sits in, and needs nothing beside it."""

from __future__ import annotations

import os
from pathlib import Path

import wav2text

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_under_test_is_this_checkouts() -> None:
    assert Path(wav2text.__file__).resolve().is_relative_to(ROOT)


def test_ci_runs_from_a_copy_with_nothing_beside_it() -> None:
    """.ci/run sets WAV2TEXT_TESTED_ROOT to a copy of the repository made where no
    ../shared exists, as in a stranger's clone."""
    tested = os.environ.get("WAV2TEXT_TESTED_ROOT")
    if tested is None:
        return  # a developer's own run, wherever the checkout is
    assert Path(tested).resolve() == ROOT
    assert not (ROOT.parent / "shared").exists()
