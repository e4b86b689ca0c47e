"""The second rate judge: Sphinx's US-English acoustic model, bundled, and its front end."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soxr

from wav2text.audio import open_audio, to_mono
from wav2text.estimation import acoustic

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
# 16 kHz recordings of real speakers, none of them in the rate estimator's fit split
REAL_16K = ("arctic_axb_a0004.wav", "libri_1995-1837-0001.wav", "ljspeech_LJ001-0005.wav")


def real_speech(name: str) -> tuple[np.ndarray, int]:
    audio = open_audio(REAL / name)
    assert audio.rate is not None
    return np.concatenate(list(to_mono(audio))), audio.rate


def peakiness(samples: np.ndarray, rate: int) -> float:
    return float(acoustic.reading_scores(samples, rate)[acoustic.FEATURES.index("peakiness")])


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pocketsphinx 5.1 has wheels for 3.11")
def test_the_bundled_model_is_what_the_script_extracts(tmp_path: Path) -> None:
    import pocketsphinx  # type: ignore[import-not-found, unused-ignore]

    sys.path.insert(0, str(ROOT))
    from training.sphinx_model import extract

    source = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us"
    made = np.load(extract(source, tmp_path))
    with np.load(ROOT / "src" / "wav2text" / "bundled" / "sphinx-en-us" / "ci-senones.npz") as ours:
        assert sorted(made.files) == sorted(ours.files)
        for name in ours.files:
            assert np.array_equal(made[name], ours[name]), name


def test_the_bundled_model_is_sphinx_shaped() -> None:
    model = acoustic.senone_model()
    assert model.densities == 128
    assert len(model.codebook) == 126 and model.codebook.max() == 41  # 42 phones x 3 states
    assert model.log_weights.shape == (3, 126, 128)
    # each senone's mixture weights are a distribution (stored as whole steps of 0.1 in -log
    # p, so each weight may lose up to 10 %)
    totals = np.exp(model.log_weights.astype(np.float64)).sum(axis=2)
    assert ((totals > 0.9) & (totals <= 1.0)).all()


def test_cepstra_come_100_a_second_and_short_input_gives_none() -> None:
    one_second = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    cepstra = acoustic.mfcc(one_second)
    assert cepstra is not None and cepstra.shape == (1 + (16000 - 410) // 160, 13)
    assert acoustic.mfcc(one_second[:1500]) is None  # 7 frames, under 10
    short = acoustic.reading_scores(one_second[:1000], 16000)
    assert short.shape == (len(acoustic.FEATURES),) and (short < -100).all()


def test_a_steady_signal_scores_as_missing_not_an_error() -> None:
    """No frame louder than the rest (silence, DC, a steady tone): nothing counts as speech."""
    for steady in (np.zeros(32000), np.full(32000, 0.25)):
        scores = acoustic.reading_scores(steady.astype(np.float32), 16000)
        assert scores.shape == (len(acoustic.FEATURES),) and (scores < -100).all()


def test_dynamic_streams_are_mean_normalised_deltas() -> None:
    ramp = np.outer(np.arange(50.0), np.linspace(0.5, 2, 13)) + 7.0
    static, delta, acceleration = acoustic.dynamic_features(ramp)
    assert np.allclose(static.mean(axis=0), 0)
    interior = slice(3, -3)
    assert np.allclose(delta[interior], 4 * np.linspace(0.5, 2, 13))  # c[t+2] - c[t-2]
    assert np.allclose(acceleration[interior], 0)


def test_a_band_limited_signal_lowers_the_high_cepstra_energy() -> None:
    """The filters span 130-6800 Hz: white noise low-passed at 2 kHz loses its upper bands."""
    noise = np.random.default_rng(1).normal(0, 0.1, 32000)
    low = soxr.resample(soxr.resample(noise, 16000, 4000), 4000, 16000)
    full, lowered = acoustic.mfcc(noise), acoustic.mfcc(low)
    assert full is not None and lowered is not None
    # c1 weighs low bands against high ones: a spectrum tilted to the low bands raises it
    assert lowered[:, 1].mean() > full[:, 1].mean() + 5


@pytest.mark.parametrize("name", REAL_16K)
def test_real_speech_is_likeliest_at_its_own_rate(name: str) -> None:
    """Stored at 16-44.1 kHz. (At 8 kHz the filters above 4 kHz hear nothing under the true
    reading, and a reading at double the rate sometimes wins: one judge among several.)"""
    samples, rate = real_speech(name)
    for true_rate in (16000, 22050, 44100):
        stored = soxr.resample(samples, rate, true_rate, quality="HQ")
        own = peakiness(stored[: 6 * true_rate], true_rate)
        for wrong in (true_rate // 2, true_rate * 2):  # played at double or half speed
            assert own > peakiness(stored[: 6 * wrong], wrong), (true_rate, wrong)


def test_the_preference_comes_from_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: with every codebook the same Gaussians and weights, no reading is
    preferred (every frame's senones tie, whatever the rate)."""
    samples, rate = real_speech(REAL_16K[0])
    model = acoustic.senone_model()
    same = acoustic.SenoneModel(
        a=tuple(np.tile(a[:, :128], (1, 42)) for a in model.a),
        b=tuple(np.tile(b[:, :128], (1, 42)) for b in model.b),
        c=tuple(np.tile(c[:128], 42) for c in model.c),
        log_weights=np.repeat(model.log_weights[:, :1], 126, axis=1),
        codebook=model.codebook,
        densities=model.densities,
    )
    monkeypatch.setattr(acoustic, "senone_model", lambda: same)
    scores = {r: peakiness(soxr.resample(samples, rate, r)[: 6 * r], r) for r in (8000, 16000)}
    assert scores[8000] == pytest.approx(scores[16000]) == pytest.approx(-np.log(126))


@pytest.fixture(scope="module")
def bundled():  # type: ignore[no-untyped-def]
    from wav2text import BUNDLED_MODEL, Transcriber

    return Transcriber(BUNDLED_MODEL)


# Real recordings, resampled by soxr and written headerless, whose rate the CTC model alone
# (trained on synthetic voices) gets wrong; from the rate benchmark's held-out split.
MISHEARD = [("arctic_axb_a0004.wav", 22050), ("goforward_16k_s16le_mono.raw", 44100)]


@pytest.mark.parametrize(("name", "true_rate"), MISHEARD)
def test_the_second_judge_finds_rates_the_model_alone_misses(  # type: ignore[no-untyped-def]
    bundled, name: str, true_rate: int
) -> None:
    from dataclasses import replace

    from wav2text import RawFormat, TranscribeOptions
    from wav2text.estimation.estimator import WEIGHTS, estimate_rate
    from wav2text.rate import CANDIDATE_RATES, RATE_CONFIDENCE

    if name.endswith(".raw"):
        samples = np.frombuffer((REAL / name).read_bytes(), "<i2").astype(np.float32) / 32768
        rate = 16000
    else:
        samples, rate = real_speech(name)
    stored = soxr.resample(samples, rate, true_rate, quality="HQ")
    pcm = (np.clip(stored, -1, 1) * 32767).astype("<i2")
    options = TranscribeOptions(raw=RawFormat("s16le", 1), sample_rate="auto")
    heard = bundled.transcribe(pcm.tobytes(), options).audio
    assert heard.source_rate == true_rate and heard.rate_source == "estimated"
    # negative control: the same evidence with the acoustic judge's weights at 0
    deaf = replace(WEIGHTS, acoustic=(0.0,) * len(WEIGHTS.acoustic))
    alone = estimate_rate(pcm / 32768, bundled.model, CANDIDATE_RATES, weights=deaf)
    assert alone.rate != true_rate or alone.confidence < RATE_CONFIDENCE
