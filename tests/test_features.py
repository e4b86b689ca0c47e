"""Log-mel features computed in one torch pass equal what transformers' extractor computes
(padding, frame pairs and attention mask included), and are used only where they do."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2FeatureExtractor

from wav2text import BUNDLED_MODEL, Transcriber
from wav2text.features import TOLERANCE, FastFbank


@pytest.fixture(scope="module")
def extractor() -> SeamlessM4TFeatureExtractor:
    return SeamlessM4TFeatureExtractor(sampling_rate=16000, return_attention_mask=True)


@pytest.mark.parametrize("lengths", [(560,), (16000,), (16161, 3333), (800, 48000, 12345)])
def test_fast_features_equal_the_extractors(
    extractor: SeamlessM4TFeatureExtractor, lengths: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(len(lengths))
    batch = [(rng.standard_normal(n) * 0.2).astype(np.float32) for n in lengths]
    fast = FastFbank(extractor)(batch)
    slow = extractor(batch, sampling_rate=16000, return_tensors="pt", padding=True)
    assert fast is not None
    assert fast["input_features"].shape == slow["input_features"].shape
    assert torch.equal(fast["attention_mask"], slow["attention_mask"].to(torch.int32))
    assert float((fast["input_features"] - slow["input_features"]).abs().max()) <= TOLERANCE


def test_an_extractor_it_does_not_match_keeps_its_own_features(
    extractor: SeamlessM4TFeatureExtractor,
) -> None:
    assert FastFbank.for_extractor(extractor) is not None

    class Changed(SeamlessM4TFeatureExtractor):  # a transformers release computing otherwise
        def _extract_fbank_features(self, waveform: np.ndarray) -> np.ndarray:
            return super()._extract_fbank_features(waveform)[:, ::-1].copy()

    Changed.__name__ = "SeamlessM4TFeatureExtractor"
    changed = Changed(sampling_rate=16000, return_attention_mask=True)
    assert FastFbank.for_extractor(changed) is None
    assert FastFbank.for_extractor(Wav2Vec2FeatureExtractor()) is None  # waveform models


def test_too_short_input_is_left_to_the_extractor(extractor: SeamlessM4TFeatureExtractor) -> None:
    assert FastFbank(extractor)([np.zeros(559, np.float32)]) is None  # one frame: no variance


def test_the_bundled_model_uses_them() -> None:
    assert Transcriber(BUNDLED_MODEL).model.fbank is not None
