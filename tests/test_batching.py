"""Batched forward passes give what one-at-a-time passes give, for both kinds of model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import noisy_tone
from tiny_models import make_model
from wav2text import TranscribeOptions, Transcriber, Wav2TextError
from wav2text.model import load_model
from wav2text.options import ModelOptions
from wav2text.segments import batches_by_length

LENGTHS = [16000, 23456, 16000, 40000, 9000]


@pytest.fixture(scope="module", params=["attention-mask", "no-mask"])
def kind(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wav2vec2-large-lv60 style (layer norm, attention mask) and base-960h style (group
    norm over the whole input, no attention mask)."""
    mask = request.param == "attention-mask"
    return make_model(tmp_path_factory.mktemp(request.param), attention_mask=mask)


def inputs(lengths: list[int]) -> list[np.ndarray]:
    return [noisy_tone(n / 16000, 16000, seed=i) for i, n in enumerate(lengths)]


def test_batched_log_probs_equal_one_at_a_time(kind: Path) -> None:
    model = load_model(ModelOptions(str(kind)))
    lengths = LENGTHS if model.pads_safely else [16000] * 4
    xs = inputs(lengths)
    batched = model.log_probs_batch(xs)
    for x, got in zip(xs, batched, strict=True):
        alone = model.log_probs(x)
        assert got.shape == alone.shape
        np.testing.assert_allclose(got, alone, atol=2e-4)
        assert (got.argmax(-1) == alone.argmax(-1)).all()


def test_models_without_a_mask_refuse_unequal_lengths(tmp_path: Path) -> None:
    model = load_model(ModelOptions(str(make_model(tmp_path / "m"))))
    assert not model.pads_safely
    with pytest.raises(ValueError, match="different lengths"):
        model.log_probs_batch(inputs([16000, 9000]))


def test_negative_control_padding_changes_a_model_without_a_mask(tmp_path: Path) -> None:
    """Why the refusal: zero padding shifts group norm statistics, so the padded input's
    frames differ from the same input alone."""
    model = load_model(ModelOptions(str(make_model(tmp_path / "m"))))
    short, long = inputs([9000, 16000])
    padded = np.concatenate([short, np.zeros(len(long) - len(short), np.float32)])
    alone = model.log_probs(short)
    with_padding = model.log_probs_batch([padded, long])[0][: len(alone)]
    assert np.abs(with_padding - alone).max() > 1e-2


@pytest.mark.parametrize("segmentation", ["vad", "window"])
def test_transcripts_do_not_depend_on_batch_size(
    kind: Path, speech_wav: Path, segmentation: str
) -> None:
    transcriber = Transcriber(str(kind))
    options = TranscribeOptions(
        segmentation=segmentation,  # type: ignore[arg-type]
        max_segment_s=2.0,
        chunk_length_s=2.0,
        stride_length_s=0.4,
    )
    one = transcriber.transcribe(speech_wav, options)
    for batch_size in (2, 5):
        many = transcriber.transcribe(speech_wav, replace(options, batch_size=batch_size))
        assert many.text == one.text and one.words
        assert [(w.start, w.end) for w in many.words] == [(w.start, w.end) for w in one.words]
        confidences = [w.confidence for w in one.words]
        assert [w.confidence for w in many.words] == pytest.approx(confidences, abs=1e-3)


def test_batches_group_similar_lengths() -> None:
    lengths = [5, 9, 5, 7, 9, 9, 5]
    padded = batches_by_length(lengths, 3, may_pad=True)
    assert sorted(i for b in padded for i in b) == list(range(7))
    assert all(len(b) <= 3 for b in padded)
    assert [[lengths[i] for i in b] for b in padded] == [[5, 5, 5], [7, 9, 9], [9]]
    equal = batches_by_length(lengths, 3, may_pad=False)
    assert [[lengths[i] for i in b] for b in equal] == [[5, 5, 5], [7], [9, 9, 9]]


def test_many_inputs_share_batches_and_keep_their_own_results(
    kind: Path, speech_wav: Path, tmp_path: Path
) -> None:
    """transcribe_many: outcomes in input order, each equal to transcribing it alone, a bad
    input's error in its place (the rest unharmed), whatever the batch size."""
    from conftest import ffmpeg

    transcriber = Transcriber(str(kind))
    tone = tmp_path / "tone.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=500:duration=2.5", "-ar", "48000", str(tone))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt nonsense")
    sources = [speech_wav, tone, bad, speech_wav]
    options = TranscribeOptions(segmentation="window", chunk_length_s=1.5, stride_length_s=0.3)
    alone = [transcriber.transcribe(s, options).text for s in sources if s != bad]
    assert all(alone)
    for batch_size in (1, 6):
        outcomes = list(
            transcriber.transcribe_many(sources, replace(options, batch_size=batch_size))
        )
        assert len(outcomes) == 4 and isinstance(outcomes[2], Wav2TextError)
        kept = [o for o in outcomes if not isinstance(o, Exception)]
        assert [o.text for o in kept] == alone
