"""How a recording differs from clean synthetic speech: the room, the microphone, the codec.

Rooms are simulated by pyroomacoustics (image sources in shoebox rooms of random size
and reverberation time); impulse responses are made once per process into a bank drawn
from a fixed seed, since one costs tens of milliseconds. A microphone colours the
spectrum (a low cut, a high roll-off, a few resonances). Codecs are FFmpeg round trips.
Every function takes its randomness from the `rng` it is given, so a seed reproduces it.
"""

from __future__ import annotations

import subprocess
from functools import cache

import numpy as np

RATE = 16000
ROOMS = 240
CODECS = {  # name: (FFmpeg encoder options, muxer, demuxer options)
    "mp3": (["-c:a", "libmp3lame", "-b:a", "32k"], "mp3", ["-f", "mp3"]),
    "aac": (["-c:a", "aac", "-b:a", "32k"], "adts", ["-f", "aac"]),
    "opus": (["-c:a", "libopus", "-b:a", "16k"], "ogg", ["-f", "ogg"]),
    "gsm": (["-ar", "8000", "-c:a", "libgsm"], "gsm", ["-f", "gsm", "-ar", "8000"]),
}


@cache
def room_bank(seed: int = 0, count: int = ROOMS) -> tuple[np.ndarray, ...]:
    """Room impulse responses at 16 kHz, direct path at sample 0 with height 1."""
    rng = np.random.default_rng(seed)
    return tuple(_room(rng) for _ in range(count))


def _room(rng: np.random.Generator) -> np.ndarray:
    import pyroomacoustics as pra  # the `train` extra

    size = np.array([rng.uniform(3, 12), rng.uniform(2.5, 9), rng.uniform(2.4, 4)])
    rt60 = rng.uniform(0.15, 1.0)
    while True:  # a large room cannot be as dry as a small one: its shortest RT60 is longer
        try:
            absorption, order = pra.inverse_sabine(rt60, size)
            break
        except ValueError:
            rt60 *= 1.25
    room = pra.ShoeBox(size, fs=RATE, materials=pra.Material(absorption), max_order=min(order, 14))
    source, mic = (rng.uniform(0.5, size - 0.5) for _ in range(2))
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float32)
    start = int(np.argmax(np.abs(rir)))
    rir = rir[start : start + int(1.2 * RATE)]
    return rir / rir[0]


def reverberate(audio: np.ndarray, rng: np.random.Generator, bank_seed: int = 0) -> np.ndarray:
    """The speech as a microphone somewhere in a simulated room hears it (same length,
    same peak). Training draws rooms from bank 0; the test-room split from bank 1."""
    bank = room_bank(bank_seed)
    rir = bank[int(rng.integers(len(bank)))]
    wet = _convolve(audio, rir)[: len(audio)]
    return wet / (np.abs(wet).max() + 1e-9) * (np.abs(audio).max() + 1e-9)


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = len(a) + len(b) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(a, size) * np.fft.rfft(b, size), size)[:n].astype(np.float32)


def microphone(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A microphone's colouring: a low cut, a high roll-off and up to three resonances,
    applied as a zero-phase gain curve over the spectrum."""
    spectrum = np.fft.rfft(audio)
    f = np.fft.rfftfreq(len(audio), 1 / RATE)
    low_cut, roll_off = rng.uniform(60, 400), rng.uniform(3000, 7800)
    gain_db = -10 * np.log10(1 + (low_cut / np.maximum(f, 1.0)) ** 4)
    gain_db -= 10 * np.log10(1 + (f / roll_off) ** rng.choice((2, 4, 8)))
    for _ in range(int(rng.integers(0, 4))):
        centre, width = rng.uniform(300, 6000), rng.uniform(0.1, 0.5)
        octaves = np.log(np.maximum(f, 1.0) / centre) / width
        gain_db += rng.uniform(-8, 8) * np.exp(-0.5 * octaves**2)
    return np.fft.irfft(spectrum * 10 ** (gain_db / 20), len(audio)).astype(np.float32)


def codec(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lossy round trip through MP3, AAC, Opus or GSM at a low bitrate (same length)."""
    name = str(rng.choice(list(CODECS)))
    options, muxer, demuxer = CODECS[name]
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    raw = ["-f", "s16le", "-ar", str(RATE), "-ac", "1"]
    encoded = _ffmpeg([*raw, "-i", "pipe:", *options, "-f", muxer, "pipe:"], pcm)
    decoded = _ffmpeg([*demuxer, "-i", "pipe:", *raw, "pipe:"], encoded)
    out = np.frombuffer(decoded, "<i2").astype(np.float32) / 32768
    return np.pad(out, (0, max(0, len(audio) - len(out))))[: len(audio)]


def _ffmpeg(arguments: list[str], data: bytes) -> bytes:
    command = ["ffmpeg", "-loglevel", "error", "-nostdin", *arguments]
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


def clip(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An input stage driven too hard: the loudest peaks flattened."""
    ceiling = float(np.abs(audio).max()) * rng.uniform(0.2, 0.7) + 1e-9
    return np.clip(audio, -ceiling, ceiling)
