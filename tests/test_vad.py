"""Speech segmentation: Silero VAD streamed exactly, cuts at pauses, silence skipped."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from training.real import REAL_DIR

from wav2text.audio import open_audio, to_mono
from wav2text.rate import resample_stream
from wav2text.segments import plan_cuts, speech_cuts
from wav2text.vad import FRAME_S, speech_probabilities

HOP = 320
RATE = 16000
FRAME = round(FRAME_S * RATE)  # 512 samples


def real_clip_16k(name: str = "jfk_inaugural_44k_stereo_24bit.flac") -> np.ndarray:
    path = REAL_DIR / name
    audio = open_audio(path)
    return np.concatenate(list(resample_stream(to_mono(audio), audio.rate, RATE)))


def split_at(x: np.ndarray, seed: int, parts: int = 40) -> list[np.ndarray]:
    cuts = np.sort(np.random.default_rng(seed).integers(0, len(x), parts))
    return np.split(x, cuts)


# --- the detector -------------------------------------------------------------------


def test_streamed_probabilities_equal_silero_on_the_whole_array() -> None:
    from silero_vad.sequence_vad import SileroVADSequence

    from wav2text.vad import _model_path

    x = real_clip_16k()
    whole = SileroVADSequence(str(_model_path())).audio_forward(x)
    for seed in (0, 1):
        streamed = np.concatenate([p for _, p in speech_probabilities(split_at(x, seed), RATE)])
        np.testing.assert_array_equal(streamed, whole)
    assert 0.3 < (whole > 0.5).mean() < 0.95  # a speech recording with pauses


def test_other_rates_are_scored_through_a_resampler() -> None:
    x16 = real_clip_16k()
    x8 = np.concatenate(list(resample_stream([x16], RATE, 8000)))
    p16 = np.concatenate([p for _, p in speech_probabilities([x16], RATE)])
    p8 = np.concatenate([p for _, p in speech_probabilities(split_at(x8, 2), 8000)])
    assert abs(len(p8) - len(p16)) <= 1
    n = min(len(p8), len(p16))
    assert ((p8[:n] > 0.5) == (p16[:n] > 0.5)).mean() > 0.9


def test_quiet_speech_is_still_speech() -> None:
    """Speech peaking at -40 dBFS is found as well as at full scale (measured: 0.892 vs
    0.919 of frames; at -60 dBFS only 0.288, which the README states)."""
    x = real_clip_16k("librivox_sense_0870.wav")
    x = x / np.abs(x).max()
    shares = []
    for gain_db in (0, -40):
        y = (x * 10 ** (gain_db / 20)).astype(np.float32)
        probs = np.concatenate([p for _, p in speech_probabilities([y], RATE)])
        shares.append((probs > 0.5).mean())
    assert shares[0] > 0.8 and shares[1] > shares[0] - 0.05


def test_blocks_come_back_unchanged() -> None:
    x = real_clip_16k()[: RATE * 3]
    blocks = split_at(x, 3, parts=7)
    returned = [b for b, _ in speech_probabilities(blocks, RATE)]
    np.testing.assert_array_equal(np.concatenate(returned), x)


# --- the cutter, on probabilities made up for the test ------------------------------


def cuts_of(
    probs: np.ndarray, block: int, max_s: float = 4.0, frame_s: float = FRAME_S
) -> list[tuple[int, int]]:
    """Cut a stream whose sample values are their own indices; (start, end) per cut."""
    samples = np.arange(len(probs) * FRAME, dtype=np.float64).astype(np.float32)
    frames_per_block = max(1, block // FRAME)
    scored = [
        (samples[i * FRAME : (i + frames_per_block) * FRAME], probs[i : i + frames_per_block])
        for i in range(0, len(probs), frames_per_block)
    ]
    plan = plan_cuts(RATE, HOP, max_s, 0.2, 0.5)
    spans = []
    for cut in speech_cuts(scored, plan, RATE, frame_s):
        start = cut.first_frame * HOP
        assert cut.samples[0] == start  # the cut holds exactly the audio it says it does
        np.testing.assert_array_equal(cut.samples, np.arange(start, start + len(cut.samples)))
        spans.append((start, start + len(cut.samples)))
    return spans


def speech(*runs: tuple[float, float]) -> np.ndarray:
    """Probabilities: (seconds, probability) runs."""
    return np.concatenate([np.full(round(s / FRAME_S), p, np.float32) for s, p in runs])


def test_pauses_split_and_silence_is_skipped() -> None:
    probs = speech((1.0, 0.0), (1.5, 0.9), (0.3, 0.1), (1.0, 0.9), (3.0, 0.0), (1.0, 0.9))
    spans = cuts_of(probs, 4096)
    assert len(spans) == 2  # the 0.3 s pause stays inside, the 3 s one splits
    (a0, a1), (b0, b1) = spans
    assert a0 == pytest.approx(RATE * (1.0 - 0.2), abs=HOP)  # 0.2 s of padding before
    assert a1 == pytest.approx(RATE * (3.8 + 0.2), abs=FRAME)  # and after
    assert b0 == pytest.approx(RATE * (6.8 - 0.2), abs=HOP)
    assert b1 == len(probs) * FRAME  # speech to the end: the cut ends with the audio
    skipped = len(probs) * FRAME - sum(e - s for s, e in spans)
    assert skipped > RATE * 3.0  # 4 of 7.8 s are silence; most of it never reaches the model


def test_long_speech_is_split_at_its_quietest_frame() -> None:
    probs = speech((9.0, 0.95))
    dip = round(2.7 / FRAME_S)
    probs[dip] = 0.4  # not a pause (above the release level), but the least speech-like
    spans = cuts_of(probs, 8192, max_s=4.0)
    assert all(e - s <= 4.0 * RATE for s, e in spans)
    assert spans[0][1] == (dip * FRAME) // HOP * HOP
    assert [s for s, _ in spans[1:]] == [e for _, e in spans[:-1]]  # contiguous: nothing lost


def test_cuts_of_wavering_probabilities() -> None:
    """Probabilities that waver around the thresholds, as real ones do: splits then land
    inside short pauses, after the speech and its padding. What is left there is silence,
    and must not come back as an empty or backward cut (found by the 60-minute benchmark)."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        noise = rng.uniform(-0.5, 1.5, rng.integers(50, 400))
        probs = np.clip(np.convolve(noise, np.ones(4) / 4, "same"), 0, 1).astype(np.float32)
        spans = cuts_of(probs, 4096, max_s=2.0)
        assert all(e > s for s, e in spans)
        assert all(e <= s2 for (_, e), (s2, _) in itertools.pairwise(spans))
        assert all(e - s <= 2.0 * RATE for s, e in spans)
        assert not missed_speech(probs, spans)
        assert all(holds_speech(probs, span) for span in spans)


def test_a_split_in_a_pause_at_the_end_of_the_stream() -> None:
    """The same when the stream ends inside that pause: what the split left after the
    speech is silence, not a cut (it was: 0.17 s of silence sliced with a negative end)."""
    probs = speech((1.6, 0.9), (0.25, 0.3), (0.2, 0.0))  # 2.05 s; the split lands at 1.84 s
    spans = cuts_of(probs, 4096, max_s=2.0)
    assert spans == [(0, round(1.84 * RATE))]
    assert all(holds_speech(probs, span) for span in spans)


def holds_speech(probs: np.ndarray, span: tuple[int, int], pad: int = round(0.2 * RATE)) -> bool:
    """Some speech frame lies within the cut or its padding."""
    first, last = max(span[0] - pad, 0) // FRAME, (span[1] + pad) // FRAME + 1
    return bool((probs[first:last] >= 0.5).any())


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(
        st.tuples(st.floats(0.03, 3.0), st.sampled_from([0.0, 0.2, 0.4, 0.6, 0.97])),
        min_size=1,
        max_size=14,
    ),
    block=st.sampled_from([512, 1536, 16384, 10**6]),
    max_s=st.sampled_from([2.0, 4.0]),
)
def test_cut_invariants(runs: list[tuple[float, float]], block: int, max_s: float) -> None:
    probs = speech(*runs)
    if not len(probs):
        return
    spans = cuts_of(probs, block, max_s)
    assert spans == cuts_of(probs, 10**7, max_s)  # block size never changes a cut
    starts = [s for s, _ in spans]
    assert all(s % HOP == 0 for s in starts)
    assert all(e > s for s, e in spans)
    assert all(e <= s2 for (_, e), (s2, _) in itertools.pairwise(spans))
    assert all(e - s <= max_s * RATE for s, e in spans)
    assert not missed_speech(probs, spans)  # every speech frame reaches the model


def missed_speech(probs: np.ndarray, spans: list[tuple[int, int]]) -> list[int]:
    """Speech frames not wholly inside the cuts."""
    covered = np.zeros(len(probs) * FRAME, bool)
    for s, e in spans:
        covered[s:e] = True
    return [
        f for f in np.flatnonzero(probs >= 0.5) if not covered[f * FRAME : (f + 1) * FRAME].all()
    ]


def test_negative_control_wrong_frame_duration_misses_speech() -> None:
    """Cuts placed with a wrong VAD frame length (20 ms, not 32 ms) lose speech: caught."""
    probs = speech((1.0, 0.0), (1.0, 0.9), (2.0, 0.0), (1.0, 0.9), (1.0, 0.0))
    assert not missed_speech(probs, cuts_of(probs, 4096))
    assert missed_speech(probs, cuts_of(probs, 4096, frame_s=0.020))


# --- in the pipeline, with the bundled model -------------------------------------------

SENTENCES = (
    "the only way to get rid of a temptation is to yield to it",
    "conscience is the inner voice that warns us somebody may be looking",
)


@pytest.fixture(scope="module")
def paused_speech(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Two sentences with long silences around them, 16 kHz; and where each one is."""
    import subprocess

    from conftest import need_tool

    need_tool("espeak-ng")
    parts, starts, at = [np.zeros(RATE, np.float32)], [], 1.0
    for i, text in enumerate(SENTENCES):
        wav = tmp_path_factory.mktemp("paused") / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True)
        audio = open_audio(wav)
        spoken = np.concatenate(list(resample_stream(to_mono(audio), audio.rate, RATE)))
        starts.append((at, at + len(spoken) / RATE))
        parts += [spoken, np.zeros(3 * RATE, np.float32)]
        at += len(spoken) / RATE + 3.0
    return np.concatenate(parts), starts


def letters(text: str) -> str:
    return text.replace(" ", "")


def test_vad_gives_the_window_transcript_with_half_the_audio(
    bundled: object,
    paused_speech: tuple[np.ndarray, list[tuple[float, float]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jiwer

    from wav2text import TranscribeOptions

    audio, spans = paused_speech
    seen: list[int] = []
    model = bundled.model  # type: ignore[attr-defined]
    forward = model.log_probs_batch
    monkeypatch.setattr(
        model,
        "log_probs_batch",
        lambda batch, language=None: seen.extend(map(len, batch)) or forward(batch, language),
    )
    vad = bundled.transcribe(audio, TranscribeOptions(sample_rate=RATE))  # type: ignore[attr-defined]
    vad_samples, seen[:] = sum(seen), []
    window = bundled.transcribe(  # type: ignore[attr-defined]
        audio, TranscribeOptions(sample_rate=RATE, segmentation="window")
    )
    assert vad_samples < 0.6 * sum(seen)  # silence (more than half the file) was skipped
    assert not vad.warnings  # speech was found: no "no speech" warning
    # The same letters; this small model may space a word differently with other context.
    assert len(vad.words) >= 15
    assert jiwer.cer(letters(window.text), letters(vad.text)) <= 0.05
    # timestamps are the file's own, and no word runs across the pause between sentences
    for start, end in spans:
        inside = [w for w in vad.words if start - 0.3 <= w.start and w.end <= end + 0.3]
        assert len(inside) >= 6
    assert sum(
        len([w for w in vad.words if s - 0.3 <= w.start <= e + 0.3]) for s, e in spans
    ) == len(vad.words)


def test_negative_control_no_word_break_at_pauses(
    bundled: object,
    paused_speech: tuple[np.ndarray, list[tuple[float, float]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a delimiter in the silence between cuts, the last word of one sentence and
    the first of the next become one word running across a 3 s pause: caught above."""
    from wav2text import TranscribeOptions
    from wav2text.segments import Stitcher

    audio, spans = paused_speech
    original = Stitcher._silence
    monkeypatch.setattr(Stitcher, "_silence", lambda self, n, _: original(self, n, False))
    words = bundled.transcribe(audio, TranscribeOptions(sample_rate=RATE)).words  # type: ignore[attr-defined]
    (_, end0), (start1, _) = spans
    assert any(w.start < end0 and w.end > start1 for w in words)


@pytest.fixture(scope="module")
def bundled() -> object:
    """Greedy: a beam search ends every segment with a word delimiter of its own, so only
    greedy decoding shows what the delimiter inserted between cuts guards against."""
    from wav2text import ModelOptions, Transcriber
    from wav2text.resolve import BUNDLED_MODEL

    return Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))


def test_bundled_model_batches_unchanged(
    bundled: object, paused_speech: tuple[np.ndarray, list[tuple[float, float]]]
) -> None:
    """Wav2Vec2-BERT masks log-mel frames, not samples: batching still changes nothing."""
    from wav2text import TranscribeOptions

    audio, _ = paused_speech
    for segmentation in ("vad", "window"):
        options = TranscribeOptions(sample_rate=RATE, segmentation=segmentation, max_segment_s=2.5)  # type: ignore[arg-type]
        one = bundled.transcribe(audio, options)  # type: ignore[attr-defined]
        many = bundled.transcribe(audio, replace(options, batch_size=4))  # type: ignore[attr-defined]
        assert one.text and many.text == one.text
        assert [w.end for w in many.words] == [w.end for w in one.words]


def test_an_8khz_model_gets_cuts_on_its_own_grid(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The VAD scores at 16 kHz; an 8 kHz model's cuts still land on its own sample grid
    and hold the speech (the JFK clip: speech through most of its 11 s)."""
    from tiny_models import make_model
    from wav2text import TranscribeOptions, Transcriber

    model_dir = make_model(tmp_path_factory.mktemp("m8k"), sampling_rate=8000)
    transcriber = Transcriber(str(model_dir))
    x8 = np.concatenate(list(resample_stream([real_clip_16k()], RATE, 8000)))
    pieces = list(transcriber.pieces(split_at(x8, 4), TranscribeOptions(sample_rate=8000)))
    hop = transcriber.model.hop
    assert pieces and sum(len(p.samples) for p in pieces) > 0.5 * len(x8)
    for piece in pieces:
        start = piece.first_frame * hop
        np.testing.assert_array_equal(piece.samples, x8[start : start + len(piece.samples)])
    result = transcriber.transcribe(x8, TranscribeOptions(sample_rate=8000, batch_size=3))
    assert result.words and result.words[-1].end <= len(x8) / 8000 + 0.05
