"""Make clean synthetic speech sound recorded: a room, a microphone, noise, a telephone
band or a codec, a level, clipping (the room, microphone and codecs: training.acoustics)."""

from __future__ import annotations

import numpy as np
import soxr

from . import acoustics

RATE = 16000


def augment(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float32 [-1, 1] mono at 16 kHz in, a randomly degraded copy out."""
    audio = samples.astype(np.float32)
    audio = _pad_silence(audio, rng)
    if rng.random() < 0.4:
        audio = acoustics.reverberate(audio, rng)
    if rng.random() < 0.5:
        audio = acoustics.microphone(audio, rng)
    if rng.random() < 0.6:
        audio = add_noise(audio, rng, rng.uniform(0, 35))
    roll = rng.random()
    if roll < 0.2:
        audio = _band_limit(audio, rng)
    elif roll < 0.25:
        audio = acoustics.codec(audio, rng)
    if rng.random() < 0.05:
        audio = acoustics.clip(audio, rng)
    peak = float(np.abs(audio).max()) or 1.0
    gain = 10 ** (rng.uniform(-30, 0) / 20) / peak  # from quiet to full scale
    return np.clip(audio * gain, -1, 1).astype(np.float32)


def _pad_silence(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    before, after = (int(rng.uniform(0, 0.4) * RATE) for _ in range(2))
    return np.pad(audio, (before, after))


def _band_limit(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    narrow = int(rng.choice([8000, 8000, 11025, 12000]))
    low = soxr.resample(audio, RATE, narrow, quality="MQ")
    if narrow == 8000 and rng.random() < 0.5:  # G.711 mu-law quantisation
        mu = 255.0
        coded = np.sign(low) * np.log1p(mu * np.abs(np.clip(low, -1, 1))) / np.log1p(mu)
        coded = np.round(coded * 127) / 127
        low = np.sign(coded) * ((1 + mu) ** np.abs(coded) - 1) / mu
    out = soxr.resample(low.astype(np.float32), narrow, RATE, quality="MQ")
    return np.pad(out, (0, max(0, len(audio) - len(out))))[: len(audio)]


def add_noise(audio: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """White, pink or brown noise or mains hum at `snr_db` below the speech's power."""
    colour = rng.choice(["white", "pink", "brown", "hum"])
    noise = _noise(colour, len(audio), rng)
    speech_power = float(np.mean(audio**2)) + 1e-10
    noise *= np.sqrt(speech_power / (float(np.mean(noise**2)) + 1e-10) / 10 ** (snr_db / 10))
    return audio + noise.astype(np.float32)


def _noise(colour: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if colour == "hum":
        t = np.arange(n) / RATE
        base = rng.choice([50.0, 60.0])
        return sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3))
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
    spectrum /= np.sqrt(f) if colour == "pink" else f
    return np.fft.irfft(spectrum, n)
