"""Model inputs computed in batches with torch, equal to what the shipped extractor computes.

Training needs thousands of utterances a minute on two CPU cores; the Hugging Face
SeamlessM4T extractor loops over frames in numpy. `fbank` reproduces it exactly
(`check_against_extractor` proves it at start-up), so the shipped model sees at inference
the features it was trained on.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2FeatureExtractor

from wav2text.features import FFT, FRAME, HOP, MEL_FLOOR, PREEMPHASIS  # one Kaldi framing

VTLP_CUTOFF_HZ = 4800.0  # the warp is linear up to about here, then bends to meet Nyquist


def bert_extractor() -> SeamlessM4TFeatureExtractor:
    return SeamlessM4TFeatureExtractor(sampling_rate=16000, return_attention_mask=True)


def wav2vec2_extractor() -> Wav2Vec2FeatureExtractor:
    return Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=True, return_attention_mask=True, padding_value=0.0
    )


class Fbank:
    """Kaldi-style log-mel frames, normalised per mel bin, stacked in pairs (160-d, 20 ms)."""

    def __init__(self) -> None:
        extractor = bert_extractor()
        self.mel = torch.tensor(extractor.mel_filters, dtype=torch.float32)  # (257, 80)
        self.window = torch.tensor(extractor.window, dtype=torch.float32)

    def frames(self, n_samples: int) -> int:
        n = 1 + (n_samples - FRAME) // HOP if n_samples >= FRAME else 0
        return n // 2

    def __call__(self, waveform: torch.Tensor, warp: float = 1.0) -> torch.Tensor:
        """One utterance (samples,) in [-1, 1] -> (frames, 160). `warp` != 1 stretches the
        spectrum's frequency axis (vocal tract length perturbation, see `warped`)."""
        frames = (waveform.float() * 32768).unfold(0, FRAME, HOP)  # (T, 400)
        frames = frames - frames.mean(dim=1, keepdim=True)
        frames = torch.cat(
            [frames[:, :1] * (1 - PREEMPHASIS), frames[:, 1:] - PREEMPHASIS * frames[:, :-1]], dim=1
        )
        spectrum = torch.fft.rfft(frames * self.window, n=FFT).abs().pow(2)
        if warp != 1.0:
            spectrum = warped(spectrum, warp)
        logmel = torch.log(torch.clamp(spectrum @ self.mel, min=MEL_FLOOR))
        logmel = (logmel - logmel.mean(0)) / torch.sqrt(logmel.var(0) + 1e-7)
        usable = logmel.shape[0] // 2 * 2
        return logmel[:usable].reshape(usable // 2, 160)


def warped(spectrum: torch.Tensor, alpha: float, rate: int = 16000) -> torch.Tensor:
    """Vocal tract length perturbation (Jaitly & Hinton, 2013): what was at f moves to
    alpha * f (formants and harmonics together; alpha > 1 sounds like a shorter vocal tract,
    as in most women's and children's voices) while the tempo stays: unlike speed or pitch
    shifts on the waveform, it never teaches the model that slowed speech sounds normal,
    which the sampling-rate judge relies on. The map is piecewise linear so that 0 and
    Nyquist stay put."""
    nyquist = rate / 2
    bins = torch.linspace(0, nyquist, spectrum.shape[-1], dtype=torch.float64)
    knee = VTLP_CUTOFF_HZ * min(alpha, 1.0) / alpha
    upper = nyquist - (nyquist - VTLP_CUTOFF_HZ * min(alpha, 1.0)) / (nyquist - knee) * (
        nyquist - bins
    )
    moved = torch.where(bins <= knee, bins * alpha, upper)  # where each source bin goes
    source = np.interp(bins.numpy(), moved.numpy(), bins.numpy()) / nyquist * (len(bins) - 1)
    low = torch.from_numpy(np.floor(source)).long().clamp(max=len(bins) - 2)
    share = torch.from_numpy(source).float() - low.float()
    return spectrum[..., low] * (1 - share) + spectrum[..., low + 1] * share


def waveform_input(waveform: torch.Tensor) -> torch.Tensor:
    """What Wav2Vec2FeatureExtractor(do_normalize=True) gives: zero mean, unit variance."""
    waveform = waveform.float()
    return (waveform - waveform.mean()) / torch.sqrt(waveform.var(unbiased=False) + 1e-7)


def check_against_extractor(seconds: float = 3.3) -> float:
    """Largest difference between Fbank and the shipped extractor on noise; raises if > 1e-3."""
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)
    expected = bert_extractor()(audio, sampling_rate=16000, return_tensors="np")["input_features"][
        0
    ]
    got = Fbank()(torch.from_numpy(audio)).numpy()
    error = float(np.abs(expected - got).max())
    if expected.shape != got.shape or error > 1e-3:
        raise AssertionError(
            f"fbank differs from the extractor: {expected.shape} {got.shape} {error}"
        )
    return error
