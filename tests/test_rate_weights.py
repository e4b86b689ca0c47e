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
import torch

from wav2text.estimation import acoustic
from wav2text.estimation import estimator as estimate
from wav2text.estimation import weights as rate_weights
from wav2text.estimation.estimator import WEIGHTS, RateEvidence, RateWeights, judge

ROOT = Path(__file__).resolve().parents[1]
RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
WIDTH = len(acoustic.FEATURES)
FLAT = RateWeights(score_scale=20.0, edge=3.0, trend=0.0, acoustic=(0.0,) * WIDTH)


def heard_by(weight: float) -> tuple[float, ...]:
    """Acoustic weights that weigh the first feature only."""
    return (weight,) + (0.0,) * (WIDTH - 1)


@pytest.fixture(scope="module")
def fitting():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fit_rate_weights

    return fit_rate_weights


def evidence(
    scores: list[float], edges: tuple[int, ...] = (), heard: list[float] | None = None
) -> RateEvidence:
    """Hand-made evidence: the model's scores, where an edge lands, the first acoustic
    feature (the others 0)."""
    judged = tuple((h,) + (0.0,) * (WIDTH - 1) for h in (heard or [0.0] * len(RATES)))
    return RateEvidence(
        RATES, tuple(scores), tuple(r in edges for r in RATES), judged, excerpt_s=6.0
    )


def log_p(made: RateEvidence, weights: RateWeights, one_group: bool = False) -> np.ndarray:
    groups = estimate.near_groups(made.candidates)
    if one_group:  # every candidate near every other: the edge weighed like any cue
        groups = np.ones_like(groups)
    return estimate.log_probabilities(
        torch.from_numpy(estimate.cues(made)),
        torch.from_numpy(groups),
        torch.from_numpy(estimate.weight_vector(weights)),
    ).numpy()


def test_the_stopband_cue_settles_an_8_8_percent_tie() -> None:
    tied = evidence([-3, -3, -3, -1, -1, -3, -3, -3], edges=(24000,))
    assert judge(tied, FLAT).rate == 24000
    without = judge(tied, replace(FLAT, edge=0.0)).probabilities  # negative control
    assert without[0][1] == pytest.approx(without[1][1])


def test_the_edge_outweighs_the_trend_inside_a_pair() -> None:
    tied = evidence([-3, -3, -3, -1, -1, -3, -3, -3], edges=(24000,))
    assert judge(tied, WEIGHTS).rate == 24000
    assert judge(tied, replace(WEIGHTS, edge=0.0)).rate == (22050 if WEIGHTS.trend < 0 else 24000)


def test_the_edge_never_moves_the_answer_out_of_its_group() -> None:
    """An MP3 made at 32 kHz, read as 24 kHz, shows a wall at 11025's Nyquist: the edge may
    not carry the answer 33 % away, however much it weighs."""
    mp3_like = evidence([-3, -3, -3, -3, -2.6, -2.5, -3, -3], edges=(24000,))
    heavy = replace(FLAT, edge=50.0)
    answer = judge(mp3_like, heavy)
    assert answer.rate == 32000
    assert answer.confidence == pytest.approx(judge(mp3_like, replace(FLAT, edge=0.0)).confidence)
    # negative control: weighed like any other cue, the edge takes the answer to 24000
    assert RATES[int(np.argmax(log_p(mp3_like, heavy, one_group=True)))] == 24000


def test_probabilities_sum_to_one_with_or_without_edges() -> None:
    for edges in ((), (24000,), (22050, 44100), tuple(RATES)):
        made = evidence([-3, -2, -1, -1.5, -1.2, -2, -2.5, -2.4], edges=edges)
        assert np.exp(log_p(made, WEIGHTS)).sum() == pytest.approx(1.0)


def test_the_trend_leans_by_octaves() -> None:
    flat = evidence([-1.0] * len(RATES))
    odds = log_p(flat, RateWeights(score_scale=20, edge=0, trend=0.5, acoustic=heard_by(0.0)))
    assert np.allclose(np.diff(odds) / np.diff(np.log2(RATES)), 0.5)


def test_the_model_score_dominates_where_it_is_clear() -> None:
    clear = evidence([-3, -3, -0.5, -3, -3, -3, -3, -3], edges=(44100,))
    answer = judge(clear, FLAT)
    assert answer.rate == 16000 and answer.confidence > 0.9


def test_the_acoustic_judge_is_weighed() -> None:
    undecided = evidence([-2.0] * len(RATES), heard=[-1.5, -0.5, -1.5, -2, -2, -2, -2, -2])
    assert judge(undecided, replace(FLAT, acoustic=heard_by(8.0))).rate == 11025
    unheard = judge(undecided, FLAT)  # negative control: weight 0, nothing prefers 11025
    assert unheard.confidence < 0.5


def test_the_fit_recovers_weights_that_made_the_data(fitting) -> None:  # type: ignore[no-untyped-def]
    truth = RateWeights(score_scale=12.0, edge=1.5, trend=-0.4, acoustic=heard_by(3.0))
    rng = np.random.default_rng(7)
    labelled = []
    for i in range(800):
        made = evidence(
            list(rng.normal(-2, 0.3, len(RATES))),
            edges=tuple(rng.choice(RATES, 2)),
            heard=list(rng.normal(-1, 0.5, len(RATES))),
        )
        p = np.exp(log_p(made, truth))
        true_rate = int(rng.choice(RATES, p=p / p.sum()))
        labelled.append((f"clip{i // 8}", true_rate, made))
    fitted = fitting.fit(labelled)
    assert fitted.score_scale == pytest.approx(truth.score_scale, rel=0.25)
    assert fitted.edge == pytest.approx(truth.edge, abs=0.5)
    assert fitted.trend == pytest.approx(truth.trend, abs=0.25)
    assert fitted.acoustic[0] == pytest.approx(truth.acoustic[0], rel=0.25)


def test_the_bar_clears_every_far_off_answer_with_a_step_to_spare(fitting) -> None:  # type: ignore[no-untyped-def]
    right = [(16000, 16000, 0.99)] * 10
    wrong_at = [(8000, 11025, 0.72)]  # confident, 38 % off
    assert fitting.far_off(right + wrong_at, 0.7) == 1
    assert fitting.choose_bar(right + wrong_at) == 0.8  # 0.75 clears it; one step more
    assert fitting.choose_bar(right) == 0.65
    near_miss = [(22050, 24000, 0.99)]  # within 10 %: not far off
    assert fitting.choose_bar(right + near_miss) == 0.65


def test_leave_one_clip_out_never_judges_a_clip_by_weights_it_helped_fit(fitting) -> None:  # type: ignore[no-untyped-def]
    seen: list[set[str]] = []
    real_fit = fitting.fit

    def spy(labelled, ridge):  # type: ignore[no-untyped-def]
        seen.append({clip for clip, _, _ in labelled})
        return real_fit(labelled, ridge)

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
    copy = tmp_path / "weights.py"
    shutil.copy(ROOT / "src" / "wav2text" / "estimation" / "weights.py", copy)
    weights = RateWeights(
        score_scale=9.5, edge=1.25, trend=-0.125, acoustic=(0.5, -2.0, 0.0, 1.0, 0.25, -0.75)
    )
    fitting.write(weights, 0.85, "LOO figures", copy)
    spec = importlib.util.spec_from_file_location("written", copy)
    assert spec and spec.loader
    written = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(written)
    assert (written.SCORE_SCALE, written.EDGE, written.TREND) == (9.5, 1.25, -0.125)
    assert (written.ACOUSTIC, written.CONFIDENCE) == ((0.5, -2.0, 0.0, 1.0, 0.25, -0.75), 0.85)
    assert written.__doc__ == rate_weights.__doc__
    assert "# leave-one-clip-out on the fit split:\n# LOO figures" in copy.read_text()


def test_the_ridge_is_the_one_most_often_exact_at_its_bar(fitting, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    exact = dict(zip(fitting.RIDGES, (9, 5, 5, 4, 2), strict=True))
    wrong = [(8000, 11025, 0.5)]  # refused at every bar

    def answers(labelled, ridge):  # type: ignore[no-untyped-def]
        sure_and_far = [(8000, 16000, 0.99)] if ridge == fitting.RIDGES[0] else []
        return [(16000, 16000, 0.99)] * exact[ridge] + wrong + sure_and_far

    monkeypatch.setattr(fitting, "leave_one_clip_out", answers)
    chosen = fitting.validate([])
    # the most exact (9) is far off at every bar: out; of the two with 5, the larger
    assert chosen.ridge == fitting.RIDGES[2]
    assert chosen.exact == 5
