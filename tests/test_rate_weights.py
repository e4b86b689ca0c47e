"""The rate estimator's weighing: one place for its weights, a fit that finds them, and each
cue doing what its weight says."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from wav2text import rate_weights
from wav2text.estimate import WEIGHTS, RateEvidence, RateWeights, judge, log_odds

ROOT = Path(__file__).resolve().parents[1]
RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)


@pytest.fixture(scope="module")
def fitting():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fit_rate_weights

    return fit_rate_weights


def evidence(scores: list[float], edges: tuple[int, ...] = ()) -> RateEvidence:
    return RateEvidence(RATES, tuple(scores), tuple(r in edges for r in RATES), excerpt_s=6.0)


def test_the_stopband_cue_settles_an_8_8_percent_tie() -> None:
    tied = evidence([-3, -3, -3, -1, -1, -3, -3, -3], edges=(24000,))
    flat = replace(WEIGHTS, trend=0.0)
    assert judge(tied, flat).rate == 24000
    without = judge(tied, replace(flat, edge=0.0)).probabilities  # negative control
    assert without[0][1] == pytest.approx(without[1][1])


def test_the_edge_outweighs_the_trend_inside_a_pair() -> None:
    tied = evidence([-3, -3, -3, -1, -1, -3, -3, -3], edges=(24000,))
    assert judge(tied, WEIGHTS).rate == 24000
    assert judge(tied, replace(WEIGHTS, edge=0.0)).rate == (22050 if WEIGHTS.trend < 0 else 24000)


def test_the_trend_leans_by_octaves() -> None:
    flat = evidence([-1.0] * len(RATES))
    odds = log_odds(flat, RateWeights(score_scale=20, edge=0, trend=0.5))
    assert np.allclose(np.diff(odds) / np.diff(np.log2(RATES)), 0.5)


def test_the_model_score_dominates_where_it_is_clear() -> None:
    clear = evidence([-3, -3, -0.5, -3, -3, -3, -3, -3], edges=(44100,))
    estimate = judge(clear, WEIGHTS)
    assert estimate.rate == 16000 and estimate.confidence > 0.9


def test_the_fit_recovers_weights_that_made_the_data(fitting) -> None:  # type: ignore[no-untyped-def]
    truth = RateWeights(score_scale=12.0, edge=1.5, trend=-0.4)
    rng = np.random.default_rng(7)
    labelled = []
    for i in range(600):
        made = evidence(list(rng.normal(-2, 0.3, len(RATES))), edges=tuple(rng.choice(RATES, 2)))
        p = np.exp(log_odds(made, truth) - log_odds(made, truth).max())
        true_rate = int(rng.choice(RATES, p=p / p.sum()))
        labelled.append((f"clip{i // 8}", true_rate, made))
    fitted = fitting.fit(labelled)
    assert fitted.score_scale == pytest.approx(truth.score_scale, rel=0.25)
    assert fitted.edge == pytest.approx(truth.edge, abs=0.5)
    assert fitted.trend == pytest.approx(truth.trend, abs=0.25)


def test_leave_one_clip_out_never_judges_a_clip_by_weights_it_helped_fit(fitting) -> None:  # type: ignore[no-untyped-def]
    seen: list[set[str]] = []
    real_fit = fitting.fit

    def spy(labelled):  # type: ignore[no-untyped-def]
        seen.append({clip for clip, _, _ in labelled})
        return real_fit(labelled)

    labelled = [(f"c{i}", 16000, evidence([-2, -2, -1, -2, -2, -2, -2, -2])) for i in range(4)]
    fitting.fit = spy
    try:
        outcomes = fitting.leave_one_clip_out(labelled)
    finally:
        fitting.fit = real_fit
    assert len(outcomes) == 4
    assert sorted(map(sorted, seen)) == sorted(
        sorted({f"c{j}" for j in range(4)} - {f"c{i}"}) for i in range(4)
    )


def test_written_weights_are_what_the_estimator_reads(fitting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "rate_weights.py"
    shutil.copy(ROOT / "src" / "wav2text" / "rate_weights.py", copy)
    fitting.write(RateWeights(score_scale=9.5, edge=1.25, trend=-0.125), "LOO figures", copy)
    spec = importlib.util.spec_from_file_location("written", copy)
    assert spec and spec.loader
    written = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(written)
    assert (written.SCORE_SCALE, written.EDGE, written.TREND) == (9.5, 1.25, -0.125)
    assert written.__doc__ == rate_weights.__doc__
    assert "# leave-one-clip-out on the fit split:\n# LOO figures" in copy.read_text()
