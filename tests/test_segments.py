"""Strided windows tile the file exactly; stitched logits equal whole-file logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiny_models import make_model
from wav2text.model import load_model
from wav2text.options import ModelOptions
from wav2text.segments import plan_windows, window_pieces


def blocks_of(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


@pytest.mark.parametrize("total", [1, 5_000, 48_000, 160_000, 160_321, 333_333])
@pytest.mark.parametrize("block", [1_000, 65_536])
def test_windows_cover_every_frame_once(total: int, block: int) -> None:
    hop = 320

    def frames_for(n: int) -> int:  # wav2vec2's conv stack: 400-sample field, 320 hop
        return max(0, (n - 400) // hop + 1)

    plan = plan_windows(16000, hop, frames_for, 2.0, 0.4)
    frames = []
    for piece in window_pieces(blocks_of(np.zeros(total, np.float32), block), plan, hop):
        keep = piece.kept(frames_for(len(piece.samples)))
        frames.extend(range(piece.first_frame + keep.start, piece.first_frame + keep.stop))
    assert frames == list(range(frames_for(total)))


@pytest.fixture(scope="module")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A model whose every frame sees only nearby audio: chunking must change nothing."""
    directory = make_model(
        tmp_path_factory.mktemp("local"),
        num_hidden_layers=0,
        feat_extract_norm="layer",
        do_normalize=False,
    )
    return load_model(ModelOptions(str(directory)))


def stitched(
    model: object, audio: np.ndarray, chunk_s: float, stride_s: float, shift: int = 0
) -> np.ndarray:
    rate, hop = model.sampling_rate, model.hop  # type: ignore[attr-defined]
    plan = plan_windows(rate, hop, model.frames_for, chunk_s, stride_s)  # type: ignore[attr-defined]
    parts = []
    for piece in window_pieces(blocks_of(audio, 4096), plan, hop):
        lp = model.log_probs(piece.samples)  # type: ignore[attr-defined]
        keep = piece.kept(len(lp))
        parts.append(lp[keep.start + shift : keep.stop + shift])
    return np.concatenate(parts)


def test_stitched_logits_equal_whole_file_logits(local_model: object) -> None:
    audio = np.random.default_rng(1).normal(0, 0.3, 16000 * 7 + 123).astype(np.float32)
    whole = local_model.log_probs(audio)  # type: ignore[attr-defined]
    chunked = stitched(local_model, audio, chunk_s=2.0, stride_s=0.5)
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


def test_negative_control_misaligned_stride_is_caught(local_model: object) -> None:
    audio = np.random.default_rng(1).normal(0, 0.3, 16000 * 7).astype(np.float32)
    whole = local_model.log_probs(audio)  # type: ignore[attr-defined]
    shifted = stitched(local_model, audio, chunk_s=2.0, stride_s=0.5, shift=1)
    assert shifted.shape != whole.shape or not np.allclose(shifted, whole, atol=1e-4)


def test_window_too_short_for_its_strides(tmp_path: Path) -> None:
    from wav2text.errors import OptionsError

    with pytest.raises(OptionsError, match="chunk longer than twice the stride"):
        plan_windows(16000, 320, lambda n: 49, 1.0, 0.5)
