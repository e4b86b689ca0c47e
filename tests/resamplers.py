"""Resamplers other than soxr, as functions (samples, from rate, to rate) -> samples: what
the stopband cue is tested and measured on (tests/test_stopband.py, benchmarks/stopband.py)."""

from __future__ import annotations

import subprocess
from math import gcd

import av
import numpy as np


def sox(x: np.ndarray, s: int, t: int) -> np.ndarray:
    """sox's `rate -h` (needs the sox program)."""
    raw = ["-t", "f32", "-c", "1"]
    done = subprocess.run(
        ["sox", *raw, "-r", str(s), "-", *raw, "-r", str(t), "-", "rate", "-h"],
        input=x.astype("<f4").tobytes(),
        capture_output=True,
        check=True,
    )
    return np.frombuffer(done.stdout, "<f4")


def swr(x: np.ndarray, s: int, t: int) -> np.ndarray:
    """FFmpeg's swresample with its default filter, through PyAV."""
    frame = av.AudioFrame.from_ndarray(x[None, :].astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = s
    resampler = av.AudioResampler(format="flt", layout="mono", rate=t)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return np.concatenate([f.to_ndarray()[0] for f in frames])


def libsamplerate(x: np.ndarray, s: int, t: int, converter: str = "sinc_best") -> np.ndarray:
    import samplerate

    return np.asarray(samplerate.resample(x, t / s, converter))


def resample_poly(x: np.ndarray, s: int, t: int) -> np.ndarray:
    from scipy.signal import resample_poly as poly

    g = gcd(s, t)
    return np.asarray(poly(x, t // g, s // g))
