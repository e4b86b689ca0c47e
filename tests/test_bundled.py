"""The bundled demo model: offline default, quality guard, and the transcript-level invariance.

The model recognises speech, so here "same audio in another container, rate or layout"
must give the same words — not just similar samples.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import jiwer
import numpy as np
import pytest

from conftest import ffmpeg, need_tool
from wav2text import BUNDLED_MODEL, BundledModelWarning, TranscribeOptions, Transcriber
from wav2text.resolve import BUNDLED_DIR

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "conscience_rms_48k_stereo.opus"
SAMPLE_TEXT = "CONSCIENCE IS THE INNER VOICE THAT WARNS US SOMEBODY MAY BE LOOKING"


@pytest.fixture(scope="module")
def bundled() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)


def test_bundled_model_is_small_and_complete() -> None:
    names = {p.name for p in BUNDLED_DIR.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "vocab.json",
        "tokenizer_config.json",
        "README.md",
    } <= names
    assert (BUNDLED_DIR / "model.safetensors").stat().st_size <= 25 * 2**20


def test_vocabulary_like_base_960h(bundled: Transcriber) -> None:
    vocab = bundled.model.vocab
    assert vocab.tokens[:5] == ("<pad>", "<s>", "</s>", "<unk>", "|")
    assert set(vocab.tokens[5:]) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")
    assert bundled.model.sampling_rate == 16000


def test_offline_default_is_the_bundled_model_with_a_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("wav2text.resolve.default_model_available", lambda repo, rev: False)
    monkeypatch.delenv("WAV2TEXT_MODEL", raising=False)
    with pytest.warns(BundledModelWarning, match="wav2vec2-base-960h"):
        transcriber = Transcriber()
    assert transcriber.model.name == BUNDLED_MODEL


def test_explicit_bundled_name_gives_no_notice() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", BundledModelWarning)
        assert Transcriber(BUNDLED_MODEL).model.name == BUNDLED_MODEL


def test_readme_main_job_offline(tmp_path: Path) -> None:
    """The README's first command: no network, no cache, the shipped sample."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    env.pop("WAV2TEXT_MODEL", None)
    run = subprocess.run(
        [sys.executable, "-m", "wav2text", "transcribe", str(SAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert jiwer.cer(SAMPLE_TEXT, run.stdout.strip()) <= SAMPLE_CER
    notes = [line for line in run.stderr.splitlines() if line.startswith("wav2text: note:")]
    assert len(notes) == 1 and BUNDLED_MODEL in notes[0]


# --- quality guard on regenerated held-out speech -----------------------------------


def held_out_utterances(split: str, count: int) -> list[tuple[np.ndarray, str]]:
    for tool in ("espeak-ng", "flite", "text2wave"):
        need_tool(tool)
    from training.corpus import utterance
    from training.text import fortune_sentences, is_held_out

    sentences = [s for s in fortune_sentences() if is_held_out(s)]
    if not sentences:
        pytest.skip("fortune databases not installed")
    return [
        (audio, text)
        for audio, _, text in (utterance(split, 0, i, sentences) for i in range(count))
    ]


# (Figures below are of the weights before the current ones, which measure the same on the
# seen voices, 0.080 / 0.215, and better on the held-out voice, 0.247 / 0.507 with the LM;
# every bound here still passes with them and fails the older weights named below.)
# What the model card promises on held-out sentences by seen voices, measured there with
# VAD segmentation over all 300 test utterances: with its language model CER 0.080 /
# WER 0.217 (0.072 / 0.197 on these 40), which meets the quality bar (CER 0.10 /
# WER 0.25) asserted here; greedy, the acoustic model alone, 0.117 / 0.404 (0.111 / 0.401
# here: it fails the bar, so the LM test has a negative control by numbers). The greedy
# bounds guard the weights on their own: the weights before these had 0.130 / 0.441 here,
# those before them 0.128 / 0.437 and 0.164 / 0.505, and fail them.
# The held-out voice: 0.295 / 0.580 on all 150 with the LM, 0.290 / 0.591 on the first 30
# (greedy 0.335 / 0.786 and 0.328 / 0.769; the weights before these 0.354 / 0.804, those
# before them, trained without vocal tract length perturbation, 0.584 / 0.967).
QUALITY_BAR_CER, QUALITY_BAR_WER = 0.10, 0.25
GREEDY_CER, GREEDY_WER = 0.125, 0.44
HELD_OUT_VOICE_CER = 0.40  # (its target, 0.25, is not reached)
SAMPLE_CER = 0.10  # one sentence, one voice: 0.060 with the LM; greedy (0.105) fails it


def seen_voice_scores(transcriber: Transcriber) -> tuple[float, float]:
    """CER and WER on the first 40 utterances of the model card's seen-voice test split."""
    refs, hyps = [], []
    for audio, text in held_out_utterances("test-seen-voices", 40):
        refs.append(text)
        hyps.append(transcriber.transcribe(audio, TranscribeOptions(sample_rate=16000)).text)
    return jiwer.cer(refs, hyps), jiwer.wer(refs, hyps)


def test_quality_bar_on_held_out_sentences(bundled: Transcriber) -> None:
    """The issue's bar, met with the model's own language model (the default)."""
    assert bundled.beam is not None
    cer, wer = seen_voice_scores(bundled)
    assert cer <= QUALITY_BAR_CER and wer <= QUALITY_BAR_WER


def test_acoustic_quality_on_held_out_sentences() -> None:
    """The weights alone, decoded greedily: what the model card claims for them."""
    from wav2text import ModelOptions

    cer, wer = seen_voice_scores(Transcriber(ModelOptions(BUNDLED_MODEL, lm=None)))
    assert cer <= GREEDY_CER and wer <= GREEDY_WER


def test_the_word_an_utterance_ends_on_is_kept(
    bundled: Transcriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The beam search finishes a word with the delimiter its spelling ends with. After the
    last word of a segment only blank frames follow, where a delimiter costs more than the
    search keeps; it gets one frame more that holds one (42 of the 300 test utterances
    lost their last word without it)."""
    import wav2text.lm

    audio, text = held_out_utterances("test-seen-voices", 3)[2]
    options = TranscribeOptions(sample_rate=16000)
    assert text == "NEVER GO TO BED MAD" == bundled.transcribe(audio, options).text
    # negative control: without the extra frame the search ends inside MAD and drops it
    monkeypatch.setattr(wav2text.lm, "_with_word_end", lambda e, _: np.ascontiguousarray(e))
    assert bundled.transcribe(audio, options).text == "NEVER GO TO BED"


def test_quality_on_the_held_out_voice(bundled: Transcriber) -> None:
    """The model card's claim for a voice never heard in training (flite/festival `slt`)."""
    utterances = held_out_utterances("test-held-out-voice", 30)
    hyps = [bundled.transcribe(a, TranscribeOptions(sample_rate=16000)).text for a, _ in utterances]
    assert jiwer.cer([text for _, text in utterances], hyps) <= HELD_OUT_VOICE_CER


# --- transcript-level invariance across containers, rates, layouts -------------------

LOSSLESS = {  # the same samples reach the model: the same text, exactly
    "flac": ("flac", []),
    "aiff": ("aiff", []),
    "wav-stereo": ("wav", ["-ac", "2"]),
    "wav-5.1": ("wav", ["-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0"]),
}
# audio within resampler/codec error of the reference: the same words. (Not 8 kHz: that
# drops the 4-8 kHz band the model hears, so it is other audio, not the same audio.)
RESAMPLED = {
    "wav-22050": ("wav", ["-ar", "22050"]),
    "wav-44100-stereo": ("wav", ["-ar", "44100", "-ac", "2"]),
    "flac-48000": ("flac", ["-ar", "48000"]),
    "flac-96000": ("flac", ["-ar", "96000"]),
    "aiff-32000": ("aiff", ["-ar", "32000"]),
    "ogg-vorbis-44100": ("ogg", ["-ar", "44100", "-c:a", "libvorbis", "-q:a", "6"]),
    "opus-48000": ("opus", ["-c:a", "libopus", "-b:a", "128k"]),
    "m4a-aac-44100": ("m4a", ["-ar", "44100", "-b:a", "128k"]),
    "mp3-44100-stereo": ("mp3", ["-ar", "44100", "-ac", "2", "-b:a", "128k"]),
    "webm-opus": ("webm", ["-c:a", "libopus", "-b:a", "128k"]),
}


SPOKEN_TEXT = "THE ONLY WAY TO GET RID OF A TEMPTATION IS TO YIELD TO IT"


@pytest.fixture(scope="module")
def spoken(bundled: Transcriber, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 16 kHz WAV of a seen voice saying a training sentence, and its transcript.

    Same-words invariance means most when the words are right, so the sentence is one the
    model learnt; the quality guard above covers sentences it never saw.
    """
    need_tool("espeak-ng")
    path = tmp_path_factory.mktemp("spoken") / "ref.wav"
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), SPOKEN_TEXT.lower()], check=True)
    ffmpeg("-i", str(raw), "-ar", "16000", str(path))
    text = bundled.transcribe(path).text
    assert jiwer.cer(SPOKEN_TEXT, text) <= 0.15, text  # the model recognises most of it
    return path, text


def variant_text(bundled: Transcriber, reference: Path, tmp_path: Path, spec: tuple) -> str:
    ext, args = spec
    path = tmp_path / f"v.{ext}"
    ffmpeg("-i", str(reference), *args, str(path))
    return bundled.transcribe(path).text


@pytest.mark.parametrize("variant", LOSSLESS)
def test_same_text_in_every_lossless_container_and_layout(
    bundled: Transcriber, spoken: tuple[Path, str], tmp_path: Path, variant: str
) -> None:
    reference, text = spoken
    assert variant_text(bundled, reference, tmp_path, LOSSLESS[variant]) == text


@pytest.mark.parametrize("variant", RESAMPLED)
def test_same_words_at_every_rate_and_codec(
    bundled: Transcriber, spoken: tuple[Path, str], tmp_path: Path, variant: str
) -> None:
    """Resampled or lossy audio differs from the reference by a little noise. This small
    model hesitates over some word boundaries, which may move, and over a letter or two
    (at most 2 edits in the 45 letters). The negative control below shows what a rate
    mistake does."""
    reference, text = spoken
    got = variant_text(bundled, reference, tmp_path, RESAMPLED[variant])
    letters = text.replace(" ", "")
    assert round(jiwer.cer(letters, got.replace(" ", "")) * len(letters)) <= 2, got


def test_negative_control_rate_not_handled_gives_other_words(
    bundled: Transcriber, spoken: tuple[Path, str], tmp_path: Path
) -> None:
    """44.1 kHz samples fed as 16 kHz, the bug wav2text exists to prevent."""
    reference, text = spoken
    path = tmp_path / "v44.wav"
    ffmpeg("-i", str(reference), "-ar", "44100", str(path))
    wrong = bundled.transcribe(path, TranscribeOptions(sample_rate=16000)).text
    assert jiwer.cer(text, wrong) > 0.5


def test_equals_transformers_pipeline_on_bundled_model(spoken: tuple[Path, str]) -> None:
    """Greedy decoding, as transformers' pipeline does without pyctcdecode."""
    from transformers import pipeline

    from wav2text import ModelOptions
    from wav2text.audio import open_audio, to_mono

    reference, _ = spoken
    greedy = Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))
    audio = open_audio(reference)
    samples = np.concatenate(list(to_mono(audio)))
    asr = pipeline("automatic-speech-recognition", model=str(BUNDLED_DIR))
    expected = asr({"raw": samples, "sampling_rate": 16000})["text"]
    assert " ".join(expected.split()) == greedy.transcribe(reference).text


def test_windows_equal_the_chunked_pipeline_on_long_speech() -> None:
    """The demo model's own 6 s / 1 s windows over 37 s of real speech: the chunked
    transformers pipeline's text, letter for letter (greedy, as the pipeline decodes)."""
    from transformers import pipeline

    from test_pipeline import real_speech
    from wav2text import ModelOptions

    greedy = Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))
    audio = real_speech(16000, 37.0)
    options = TranscribeOptions(sample_rate=16000, segmentation="window")
    asr = pipeline("automatic-speech-recognition", model=str(BUNDLED_DIR))
    expected = asr(audio.copy(), chunk_length_s=6.0, stride_length_s=1.0)["text"]
    assert greedy.transcribe(audio, options).text == " ".join(expected.split())


def test_int8_quantised_model_mostly_agrees(spoken: tuple[Path, str]) -> None:
    from wav2text import ModelOptions

    reference, text = spoken
    quantised = Transcriber(ModelOptions(BUNDLED_MODEL, quantize="int8"))
    linear = type(quantised.model.model.lm_head).__name__
    assert "Linear" in linear and "quantized" in type(quantised.model.model.lm_head).__module__
    assert jiwer.cer(text, quantised.transcribe(reference).text) <= 0.1


def test_bfloat16_mostly_agrees(spoken: tuple[Path, str]) -> None:
    from wav2text import ModelOptions

    reference, text = spoken
    half = Transcriber(ModelOptions(BUNDLED_MODEL, dtype="bfloat16"))
    assert jiwer.cer(text, half.transcribe(reference).text) <= 0.1


def test_frame_counts_of_any_length(bundled: Transcriber) -> None:
    """Pieces of any length (VAD cuts can end a few samples after a split) have a frame
    count, without running into the log-mel extractor's shortest input."""
    counts = [bundled.model.frames_for(n) for n in (0, 1, 100, 399, 559, 560, 561, 4000)]
    assert counts == sorted(counts) and counts[0] == 0 and counts[-1] > 10
    assert bundled.model.frames_for(bundled.model.min_samples) == 1


def test_int8_needs_float32() -> None:
    from wav2text import ModelOptions, OptionsError

    with pytest.raises(OptionsError, match="float32"):
        ModelOptions(BUNDLED_MODEL, dtype="bfloat16", quantize="int8")
