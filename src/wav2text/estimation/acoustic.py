"""A second judge of unknown sampling rates that heard real speech: CMU Sphinx's en-us model.

The CTC model that scores candidate rates (estimate.py) may have heard little real speech
(the bundled demo model heard synthetic voices only). Sphinx's US-English acoustic model was
trained on real recordings; its context-independent senones (bundled/sphinx-en-us) score the
same excerpt read at each candidate rate, through Sphinx's own MFCC front end, so that speech
sped up or slowed down by a wrong rate finds no phone that fits it. No decoder is involved:
Sphinx's decoder normalises its scores per frame, which hides exactly this.

Written by hand because no maintained package computes Sphinx-3 features and senone scores
outside the decoder (pocketsphinx exposes neither); the front end follows Sphinx's defaults
and the model's feat.params.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

RATE = 16000  # the model's rate (Sphinx's -samprate)
FRAME_SHIFT = 160  # samples: 100 frames per second (-frate 100)
FRAME_LENGTH = 410  # samples: 0.025625 s (-wlen)
FFT_SIZE = 512
PRE_EMPHASIS = 0.97
MEL_FILTERS, LOWER_HZ, UPPER_HZ = 25, 130.0, 6800.0  # feat.params
CEPSTRA, LIFTER = 13, 22
TOP_DENSITIES = 4  # Gaussians per codebook a senone's score sums, as Sphinx's -topn
SPEECH_QUANTILE = 0.4  # frames above this quantile of c0 (log energy) are scored as speech
MIN_FRAMES = 10
# What each candidate reading yields, in this order: the best senone's log-likelihood and the
# log-posterior of the best senone among all (how peaked the frame's evidence is), over all
# three streams, then the static cepstra alone; the best senone's log-likelihood on the delta
# and the delta-delta streams alone (slowed-down speech makes those unnaturally likely).
FEATURES = (
    "likelihood",
    "peakiness",
    "static likelihood",
    "static peakiness",
    "delta likelihood",
    "acceleration likelihood",
)
_MISSING = -1000.0  # an excerpt too short to score
_MODEL = Path(__file__).parents[1] / "bundled" / "sphinx-en-us" / "ci-senones.npz"


@dataclass(frozen=True)
class SenoneModel:
    """Per stream, the Gaussians as one quadratic form (x² @ a + x @ b + c, densities laid
    out codebook by codebook) and each senone's codebook and log mixture weights."""

    a: tuple[np.ndarray, ...]  # dims x (codebooks * densities)
    b: tuple[np.ndarray, ...]
    c: tuple[np.ndarray, ...]  # (codebooks * densities,)
    log_weights: np.ndarray  # streams x senones x densities
    codebook: np.ndarray  # senone -> its phone's codebook
    densities: int


@functools.cache
def senone_model(path: Path = _MODEL) -> SenoneModel:
    with np.load(path) as data:
        means, variances = data["means"], data["variances"]
        log_weights = data["log_weights"]  # streams x densities x senones
    codebooks, streams, densities, _ = means.shape
    precision = 1.0 / variances
    norm = -0.5 * np.log(2 * np.pi * variances).sum(-1) - 0.5 * (means**2 * precision).sum(-1)
    flat = codebooks * densities

    def per_stream(x: np.ndarray, s: int) -> np.ndarray:
        return np.ascontiguousarray(x[:, s].reshape(flat, -1).T.squeeze(), dtype=np.float32)

    return SenoneModel(
        a=tuple(per_stream(-0.5 * precision, s) for s in range(streams)),
        b=tuple(per_stream(means * precision, s) for s in range(streams)),
        c=tuple(per_stream(norm[..., None], s) for s in range(streams)),
        log_weights=np.ascontiguousarray(log_weights.transpose(0, 2, 1)),
        codebook=np.arange(log_weights.shape[2]) // 3,
        densities=densities,
    )


def reading_scores(excerpt: np.ndarray, rate: int) -> np.ndarray:
    """FEATURES for mono float samples read as if recorded at `rate`."""
    audio = np.asarray(soxr.resample(excerpt, rate, RATE, quality="HQ"))
    cepstra = mfcc(audio)
    if cepstra is None:
        return np.full(len(FEATURES), _MISSING)
    streams = dynamic_features(cepstra)
    speech = cepstra[:, 0] > np.quantile(cepstra[:, 0], SPEECH_QUANTILE)
    if speech.sum() < MIN_FRAMES:  # a steady signal: no frame louder than the rest
        return np.full(len(FEATURES), _MISSING)
    model = senone_model()
    scores = [senone_scores(model, stream[speech], s) for s, stream in enumerate(streams)]
    every = scores[0] + scores[1] + scores[2]
    return np.array(
        [
            *_best_and_peakiness(every),
            *_best_and_peakiness(scores[0]),
            scores[1].max(axis=1).mean(),
            scores[2].max(axis=1).mean(),
        ]
    )


def mfcc(audio: np.ndarray) -> np.ndarray | None:
    """Sphinx's cepstra of 16 kHz float samples: frames x CEPSTRA; None under MIN_FRAMES."""
    frames = 1 + (len(audio) - FRAME_LENGTH) // FRAME_SHIFT
    if frames < MIN_FRAMES:
        return None
    x = audio.astype(np.float32) * 32768  # Sphinx reads 16-bit integers
    x = np.append(x[0], x[1:] - PRE_EMPHASIS * x[:-1])
    index = np.arange(FRAME_LENGTH)[None] + FRAME_SHIFT * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(x[index] * _hamming(), FFT_SIZE)) ** 2
    log_mel = np.log(np.maximum(power @ _mel_filters().T, 1e-5))
    return np.asarray((log_mel @ _dct().T) * _lifter(), dtype=np.float32)


def dynamic_features(cepstra: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sphinx's 1s_c_d_dd streams after batch cepstral mean normalisation: the cepstra,
    their deltas c[t+2] - c[t-2], and the deltas' deltas d[t+1] - d[t-1]."""
    c = cepstra - cepstra.mean(axis=0)
    padded = np.pad(c, ((3, 3), (0, 0)), mode="edge")
    t = np.arange(len(c)) + 3
    delta = padded[t + 2] - padded[t - 2]
    acceleration = (padded[t + 3] - padded[t - 1]) - (padded[t + 1] - padded[t - 3])
    return c, delta, acceleration


def senone_scores(model: SenoneModel, stream: np.ndarray, s: int) -> np.ndarray:
    """frames x senones: each senone's log-likelihood on stream `s`, from the best
    TOP_DENSITIES Gaussians of its codebook."""
    frames = len(stream)
    dens = (stream**2 @ model.a[s] + stream @ model.b[s] + model.c[s]).reshape(
        frames, -1, model.densities
    )
    top = np.argpartition(-dens, TOP_DENSITIES, axis=2)[:, :, :TOP_DENSITIES]
    per_senone = top[:, model.codebook, :]  # frames x senones x TOP_DENSITIES
    senones = np.arange(len(model.codebook))[None, :, None]
    joint = (
        np.take_along_axis(dens, top, 2)[:, model.codebook, :]
        + model.log_weights[s][senones, per_senone]
    )
    peak = joint.max(axis=2)
    return np.asarray(peak + np.log(np.exp(joint - peak[..., None]).sum(axis=2)))


def _best_and_peakiness(scores: np.ndarray) -> tuple[float, float]:
    best = scores.max(axis=1)
    peakiness = -np.log(np.exp(scores - best[:, None]).sum(axis=1))
    return float(best.mean()), float(peakiness.mean())


@functools.cache
def _mel_filters() -> np.ndarray:
    """Sphinx's triangles: equal widths on the mel scale, edges rounded to FFT bins, unit
    area."""
    hz_per_bin = RATE / FFT_SIZE
    lowest, highest = _mel(LOWER_HZ), _mel(UPPER_HZ)
    width = (highest - lowest) / (MEL_FILTERS + 1)
    hz = np.arange(FFT_SIZE // 2 + 1) * hz_per_bin
    filters = np.zeros((MEL_FILTERS, len(hz)), dtype=np.float32)
    for i in range(MEL_FILTERS):
        left, centre, right = (
            round(_mel_to_hz(lowest + (i + j) * width) / hz_per_bin) * hz_per_bin for j in range(3)
        )
        rising, falling = (hz - left) / (centre - left), (right - hz) / (right - centre)
        filters[i] = np.clip(np.minimum(rising, falling), 0, None) * 2 / (right - left)
    return filters


@functools.cache
def _dct() -> np.ndarray:
    """Orthonormal DCT-II (Sphinx's `-transform dct`)."""
    k, j = np.arange(CEPSTRA)[:, None], np.arange(MEL_FILTERS)[None]
    dct = np.cos(np.pi * k * (j + 0.5) / MEL_FILTERS) * np.sqrt(2 / MEL_FILTERS)
    dct[0] *= np.sqrt(0.5)
    return dct.astype(np.float32)


@functools.cache
def _lifter() -> np.ndarray:
    return (1 + LIFTER / 2 * np.sin(np.arange(CEPSTRA) * np.pi / LIFTER)).astype(np.float32)


@functools.cache
def _hamming() -> np.ndarray:
    n = np.arange(FRAME_LENGTH)
    return (0.54 - 0.46 * np.cos(2 * np.pi * n / (FRAME_LENGTH - 1))).astype(np.float32)


def _mel(hz: float) -> float:
    return float(2595 * np.log10(1 + hz / 700))


def _mel_to_hz(mel: float) -> float:
    return float(700 * (10 ** (mel / 2595) - 1))
