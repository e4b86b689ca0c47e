"""Model inputs for log-mel models (Wav2Vec2-BERT and the bundled model), in one pass.

transformers' SeamlessM4TFeatureExtractor computes its Kaldi-style log-mel frames in a
Python loop over frames (numpy), holding the interpreter lock for about a sixth of the
bundled model's time, so that requests on two server workers or two batch threads
took turns there. `FastFbank` computes the same numbers with torch in one vectorised pass
(the lock released), and the same padding, pairing and attention mask. It is used only
where it is proven equal: `for_extractor` compares it with the extractor on noise of
several lengths when a model loads, and keeps the extractor otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

FRAME, HOP, FFT, PREEMPHASIS, MEL_FLOOR = 400, 160, 512, 0.97, 1.192092955078125e-07
TOLERANCE = 1e-3  # largest difference from the extractor's features allowed
PROOF_SAMPLES = (16000 * 3 + 123, 5000, 1601)  # odd and even frame counts, batched together


class FastFbank:
    """SeamlessM4TFeatureExtractor(...)(batch, padding=True, return_tensors="pt")."""

    def __init__(self, extractor: Any) -> None:
        self.mel = torch.tensor(np.asarray(extractor.mel_filters), dtype=torch.float32)
        self.window = torch.tensor(np.asarray(extractor.window), dtype=torch.float32)
        self.stride = int(extractor.stride)
        self.padding_value = float(extractor.padding_value)

    @classmethod
    def for_extractor(cls, extractor: Any) -> FastFbank | None:
        """A FastFbank for this extractor if it computes what the extractor computes."""
        if type(extractor).__name__ != "SeamlessM4TFeatureExtractor":
            return None
        if getattr(extractor, "dither", 0.0) or extractor.sampling_rate != 16000:
            return None
        try:
            fast = cls(extractor)
            return fast if fast._equals(extractor) else None
        except (AttributeError, TypeError, ValueError, RuntimeError):
            return None

    def __call__(self, batch: Sequence[np.ndarray]) -> dict[str, torch.Tensor] | None:
        """Features and attention mask; None where an input is too short to normalise
        (the caller then asks the extractor, whose answer says so)."""
        if min(len(x) for x in batch) < FRAME + HOP:  # fewer than 2 frames
            return None
        logmels = [self._logmel(torch.from_numpy(np.asarray(x, dtype=np.float32))) for x in batch]
        frames = -(-max(len(m) for m in logmels) // self.stride) * self.stride
        padded = torch.full((len(batch), frames, self.mel.shape[1]), self.padding_value)
        mask = torch.zeros((len(batch), frames), dtype=torch.int32)
        for row, logmel in enumerate(logmels):
            padded[row, : len(logmel)] = logmel
            mask[row, : len(logmel)] = 1
        width = self.mel.shape[1] * self.stride
        return {
            "input_features": padded.reshape(len(batch), frames // self.stride, width),
            "attention_mask": mask[:, self.stride - 1 :: self.stride].contiguous(),
        }

    def _logmel(self, waveform: torch.Tensor) -> torch.Tensor:
        frames = (waveform * 32768).unfold(0, FRAME, HOP)
        frames = frames - frames.mean(dim=1, keepdim=True)
        emphasised = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
        frames = torch.cat([frames[:, :1] * (1 - PREEMPHASIS), emphasised], dim=1)
        power = torch.fft.rfft(frames * self.window, n=FFT).abs().pow(2)
        logmel = torch.log(torch.clamp(power @ self.mel, min=MEL_FLOOR))
        return (logmel - logmel.mean(0)) / torch.sqrt(logmel.var(0) + 1e-7)

    def _equals(self, extractor: Any) -> bool:
        rng = np.random.default_rng(0)
        batch = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in PROOF_SAMPLES]
        fast = self(batch)
        slow = extractor(batch, sampling_rate=16000, return_tensors="pt", padding=True)
        return (
            fast is not None
            and fast["input_features"].shape == slow["input_features"].shape
            and torch.equal(fast["attention_mask"], slow["attention_mask"].to(torch.int32))
            and float((fast["input_features"] - slow["input_features"]).abs().max()) <= TOLERANCE
        )
