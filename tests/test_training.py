"""The training recipe's parts that CI can check without training: features, VTLP, and
continuing from the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training.export import export
from training.features import FFT, check_against_extractor, warped
from training.train import Run, arguments

from wav2text.resolve import BUNDLED_DIR

RATE = 16000
BIN_HZ = RATE / FFT


def test_training_features_equal_the_shipped_extractor() -> None:
    assert check_against_extractor() < 1e-3


def tone_spectrum(hertz: float) -> torch.Tensor:
    t = np.arange(FFT) / RATE
    frame = np.sin(2 * np.pi * hertz * t) * np.hanning(FFT)
    return torch.from_numpy(np.abs(np.fft.rfft(frame)) ** 2).float()


def peak_hz(spectrum: torch.Tensor) -> float:
    return float(torch.argmax(spectrum)) * BIN_HZ


@pytest.mark.parametrize("alpha", [0.9, 1.15, 1.3])
def test_vtlp_moves_what_was_at_f_to_alpha_f(alpha: float) -> None:
    """Below the knee (4.8 kHz) every frequency f lands at alpha * f: 1 kHz at 1.15 is
    1150 Hz, a shorter vocal tract. A warp in the wrong direction (f / alpha) fails."""
    for hertz in (500.0, 1000.0, 2000.0):
        assert abs(peak_hz(warped(tone_spectrum(hertz), alpha)) - alpha * hertz) <= BIN_HZ


def test_vtlp_keeps_zero_and_nyquist_and_is_identity_at_one() -> None:
    spectrum = torch.rand(3, FFT // 2 + 1)
    assert torch.allclose(warped(spectrum, 1.0), spectrum)
    for alpha in (0.9, 1.3):
        out = warped(spectrum, alpha)
        assert torch.allclose(out[..., 0], spectrum[..., 0])
        assert torch.allclose(out[..., -1], spectrum[..., -1])


def test_a_run_continues_from_the_shipped_weights(tmp_path: Path) -> None:
    """`train --init src/wav2text/bundled/demo-en` starts from exactly the shipped weights:
    its first checkpoint exports back to the same tensors."""
    args = arguments().parse_args(
        [str(tmp_path / "run"), "--corpus", str(tmp_path), "--init", str(BUNDLED_DIR)]
    )
    args.run.mkdir()
    run = Run(args)
    assert run.progress["hours"] == 0.0 and run.progress["step"] == 0  # a new schedule
    run.save()
    export(args.run, tmp_path / "out")
    shipped = load_file(BUNDLED_DIR / "model.safetensors")
    again = load_file(tmp_path / "out" / "model.safetensors")
    assert shipped.keys() == again.keys()
    assert all(torch.equal(shipped[k], again[k]) for k in shipped)


def test_the_language_model_never_saw_a_test_sentence() -> None:
    """The shipped LM's words come from training sentences only: every test split is
    spoken from held-out sentences, and words found only there are not in it."""
    from training.lm import lm_sentences
    from training.text import fortune_sentences, is_held_out, normalise

    sentences = fortune_sentences()
    if not sentences:
        pytest.skip("fortune databases not installed")
    held_out = {normalise(s) for s in sentences if is_held_out(s)}
    taught = lm_sentences()
    assert held_out and taught and not held_out & set(taught)
    shipped = set((BUNDLED_DIR / "language_model" / "unigrams.txt").read_text().split())
    assert shipped == {w for s in taught for w in s.split()}
    only_held_out = {w for s in held_out for w in s.split()} - shipped
    assert only_held_out  # (so the check above could fail: such words exist)


def test_grow_layers_keeps_the_trained_blocks_and_adds_silent_ones(tmp_path: Path) -> None:
    """`train --init ... --grow-layers 8`: the shipped 6 blocks in order, 2 new ones whose
    residual branches add nothing yet (each then only renormalises the stream)."""
    from training.grow import BRANCH_OUTPUTS, layer_plan

    args = arguments().parse_args([str(tmp_path / "run"), "--corpus", str(tmp_path),
                                   "--init", str(BUNDLED_DIR), "--grow-layers", "8"])  # fmt: skip
    run = Run(args)
    grown = dict(run.model.state_dict())
    shipped = load_file(BUNDLED_DIR / "model.safetensors")
    plan = layer_plan(6, 8)
    assert run.config.num_hidden_layers == 8
    assert [old for old, new in plan if not new] == [*range(6)]
    for position, (source, fresh) in enumerate(plan):
        prefix, old = f"encoder.layers.{position}.", f"encoder.layers.{source}."
        for name, tensor in grown.items():
            if prefix not in name:
                continue
            rest = name.split(prefix, 1)[1]
            silent = fresh and rest.startswith(BRANCH_OUTPUTS)
            expected = torch.zeros_like(tensor) if silent else shipped[name.replace(prefix, old)]
            assert torch.equal(tensor, expected), name
    block = run.model.wav2vec2_bert.encoder.layers[plan.index((2, True))].eval()
    stream = torch.randn(1, 20, run.config.hidden_size)
    with torch.no_grad():
        assert torch.allclose(block(stream)[0], block.final_layer_norm(stream), atol=1e-5)
