"""End to end on small random models: reference equivalence, facts recorded, bad input."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from conftest import ffmpeg, noisy_tone, tone
from tiny_models import make_model
from wav2text import (
    AudioDecodeError,
    AudioTooShortError,
    EmptyAudioError,
    InvalidAudioError,
    NoAudioStreamError,
    RawFormat,
    TranscribeOptions,
    Transcriber,
    TruncatedAudioError,
    UnknownSampleRateError,
)
from wav2text.passes import SILENCE_PEAK

VARIANTS = {
    "wav2vec2-group-norm": dict(arch="wav2vec2"),
    "wav2vec2-attention-mask": dict(arch="wav2vec2", attention_mask=True),
    "wav2vec2-8khz": dict(arch="wav2vec2", sampling_rate=8000),
    "wav2vec2-no-normalize": dict(arch="wav2vec2", do_normalize=False),
    "hubert": dict(arch="hubert"),
    "wavlm": dict(arch="wavlm", attention_mask=True),
    "data2vec-audio": dict(arch="data2vec-audio", attention_mask=True),
}


def hf_text(model_dir: Path, audio: np.ndarray) -> str:
    asr = pipeline("automatic-speech-recognition", model=str(model_dir), device="cpu")
    return " ".join(asr(audio.copy())["text"].split())  # wav2text never emits double spaces


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("variant", VARIANTS)
def test_equals_transformers_pipeline(models: Path, variant: str) -> None:
    settings = VARIANTS[variant]
    directory = make_model(models / variant, **settings)  # type: ignore[arg-type]
    rate = int(settings.get("sampling_rate", 16000))  # type: ignore[call-overload]
    audio = noisy_tone(3.0, rate, seed=len(variant))
    # the pipeline runs every strided window; so does segmentation="window"
    options = TranscribeOptions(sample_rate=rate, segmentation="window")
    result = Transcriber(str(directory)).transcribe(audio, options)
    assert result.text  # random models still say something: the test compares real text
    assert result.text == hf_text(directory, audio)
    assert result.audio.model_rate == rate and not result.audio.resampled


def real_speech(rate: int, seconds: float) -> np.ndarray:
    """Real recordings joined, at `rate`: audio several windows long."""
    from training.real import real_clips

    from wav2text.audio import open_audio, to_mono
    from wav2text.rate import resample_stream

    parts = []
    for clip in real_clips():
        if clip.path.suffix != ".raw":
            audio = open_audio(clip.path)
            parts += resample_stream(to_mono(audio), audio.rate, rate)
    return np.concatenate(parts)[: round(seconds * rate)]


LONG = {  # variant, chunk/stride: 37 s of speech is 4-19 windows
    "wav2vec2-8khz-30-5": ("wav2vec2-8khz", 30.0, 5.0),
    "wav2vec2-8khz-10-2": ("wav2vec2-8khz", 10.0, 2.0),
    "wav2vec2-attention-mask-4-1": ("wav2vec2-attention-mask", 4.0, 1.0),
    "hubert-10-2.5": ("hubert", 10.0, 2.5),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", LONG)
def test_equals_transformers_pipeline_on_long_audio(models: Path, case: str) -> None:
    """Same windows, same kept frames as the chunked pipeline: the same text, on 37 s."""
    variant, chunk, stride = LONG[case]
    settings = VARIANTS[variant]
    directory = make_model(models / f"long-{case}", **settings)  # type: ignore[arg-type]
    rate = int(settings.get("sampling_rate", 16000))  # type: ignore[call-overload]
    audio = real_speech(rate, 37.0)
    options = TranscribeOptions(
        sample_rate=rate, segmentation="window", chunk_length_s=chunk, stride_length_s=stride
    )
    result = Transcriber(str(directory)).transcribe(audio, options)
    asr = pipeline("automatic-speech-recognition", model=str(directory), device="cpu")
    expected = asr(audio.copy(), chunk_length_s=chunk, stride_length_s=stride)["text"]
    assert len(result.text) > 100 and result.text == " ".join(expected.split())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_negative_control_a_window_step_one_frame_short_is_caught(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The geometry before: steps counted from the frames a window makes (one fewer than
    its nominal count), all `stride` frames dropped on the right. The windows drift from
    the pipeline's by a frame each, and the text differs."""
    directory = make_model(models / "long-control", sampling_rate=8000)
    transcriber = Transcriber(str(directory))
    plan_of = Transcriber.window_plan

    def drifting(self: Transcriber, options: TranscribeOptions) -> object:
        plan = plan_of(self, options)
        hop = self.model.hop
        return replace(plan, step_samples=plan.step_samples - hop, right_frames=plan.stride_frames)

    monkeypatch.setattr(Transcriber, "window_plan", drifting)
    audio = real_speech(8000, 37.0)
    options = TranscribeOptions(
        sample_rate=8000, segmentation="window", chunk_length_s=10.0, stride_length_s=2.0
    )
    asr = pipeline("automatic-speech-recognition", model=str(directory), device="cpu")
    expected = asr(audio.copy(), chunk_length_s=10.0, stride_length_s=2.0)["text"]
    assert transcriber.transcribe(audio, options).text != " ".join(expected.split())


def test_facts_record_what_was_done(tiny: Transcriber) -> None:
    stereo = np.stack([noisy_tone(1.0, 44100), noisy_tone(1.0, 44100, seed=1)])
    result = tiny.transcribe(stereo, TranscribeOptions(sample_rate=44100))
    info = result.audio
    assert (info.source_rate, info.rate_source, info.channels) == (44100, "given", 2)
    assert info.resampled and info.model_rate == 16000
    assert info.steps() == "decode array -> downmix 2->1 (mean) -> resample 44100->16000 Hz"
    assert result.duration == pytest.approx(1.0)
    assert result.model.endswith("wav2vec2")


def test_words_and_timestamps_are_consistent(tiny: Transcriber) -> None:
    options = TranscribeOptions(sample_rate=16000, segmentation="window")  # a tone: no speech
    result = tiny.transcribe(noisy_tone(4.0, 16000), options)
    assert result.words and result.text == " ".join(w.text for w in result.words)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start < w.end <= result.duration + 0.03 for w in result.words)
    assert all(0 < w.confidence <= 1 for w in result.words)
    assert " ".join(s.text for s in result.segments) == result.text


def test_long_input_in_windows_equals_whole_file(models: Path) -> None:
    """A model whose frames see only nearby audio: windowing must not change one word."""
    directory = make_model(
        models / "local", num_hidden_layers=0, feat_extract_norm="layer", do_normalize=False
    )
    local = Transcriber(str(directory))
    audio = noisy_tone(25.0, 16000, seed=3)
    window = TranscribeOptions(sample_rate=16000, segmentation="window")
    windowed = local.transcribe(audio, replace(window, chunk_length_s=6.0, stride_length_s=1.0))
    whole = local.transcribe(audio, replace(window, chunk_length_s=60.0))
    assert len(windowed.text) > 100 and windowed.words[-1].end > 20.0
    assert windowed.text == whole.text
    assert [(w.start, w.end) for w in windowed.words] == [(w.start, w.end) for w in whole.words]
    confidences = [w.confidence for w in whole.words]
    assert [w.confidence for w in windowed.words] == pytest.approx(confidences, abs=1e-5)


# --- bad input: a typed error that says what to do ---------------------------------


def test_empty_file(tiny: Transcriber, tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="empty"):
        tiny.transcribe(path)


def test_zero_samples(tiny: Transcriber, tmp_path: Path) -> None:
    with pytest.raises(EmptyAudioError, match="no samples"):
        tiny.transcribe(np.zeros(0, np.float32), TranscribeOptions(sample_rate=16000))
    path = tmp_path / "zero.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", str(path))
    with pytest.raises(EmptyAudioError):
        tiny.transcribe(path)


def test_shorter_than_receptive_field(tiny: Transcriber) -> None:
    assert tiny.model.min_samples == 400  # wav2vec2's conv stack at 16 kHz
    with pytest.raises(AudioTooShortError, match="at least 400 samples"):
        tiny.transcribe(tone(0.02, 16000), TranscribeOptions(sample_rate=16000))
    ok = tiny.transcribe(tone(400 / 16000, 16000), TranscribeOptions(sample_rate=16000))
    assert ok.duration == pytest.approx(0.025)


@pytest.mark.parametrize(
    "content",
    [b"hello, this is a text file\n" * 50, bytes.fromhex("89504e470d0a1a0a") + b"\0" * 300],
)
def test_not_audio(tiny: Transcriber, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=r"not a readable audio|no audio stream"):
        tiny.transcribe(path)


def test_missing_file(tiny: Transcriber) -> None:
    with pytest.raises(AudioDecodeError, match="no such file"):
        tiny.transcribe("/nonexistent/talk.mp3")


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("clean")
    files = {}
    for ext in ("wav", "mp3", "flac", "m4a"):
        files[ext] = directory / f"s.{ext}"
        ffmpeg(
            "-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-ar", "48000", str(files[ext])
        )
    return files


# Ogg (Vorbis, Opus) declares no total length, so a cut there is not detectable.
@pytest.mark.parametrize("ext", ["wav", "mp3", "flac", "m4a"])
def test_truncated_files(
    tiny: Transcriber, clean_files: dict[str, Path], tmp_path: Path, ext: str
) -> None:
    data = clean_files[ext].read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError, match=r"truncated|cut short"):
        tiny.transcribe(cut)
    assert tiny.transcribe(clean_files[ext]).duration == pytest.approx(4.0, abs=0.05)


def test_truncated_allowed_on_request(
    tiny: Transcriber, clean_files: dict[str, Path], tmp_path: Path
) -> None:
    data = clean_files["wav"].read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedAudioError, match="allow_truncated=True"):
        tiny.transcribe(cut)
    result = tiny.transcribe(cut, TranscribeOptions(allow_truncated=True))
    assert result.duration == pytest.approx(2.0, abs=0.05)


def test_corrupt_mp3(tiny: Transcriber, clean_files: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(clean_files["mp3"].read_bytes())
    third = len(data) // 3
    data[third : third + 3000] = bytes((b * 7 + 13) % 256 for b in data[third : third + 3000])
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(bytes(data))
    with pytest.raises(AudioDecodeError, match=r"corrupt|truncated|damaged"):
        tiny.transcribe(bad)


def test_video_without_audio(tiny: Transcriber, tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:d=1", "-c:v", "mpeg4", str(path))
    with pytest.raises(NoAudioStreamError, match="no audio stream"):
        tiny.transcribe(path)


def test_video_with_audio(tiny: Transcriber, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=64x64:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:duration=2",
        "-c:v",
        "mpeg4",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    )
    result = tiny.transcribe(path)
    assert result.audio.codec == "aac" and result.duration == pytest.approx(2.0, abs=0.1)
    with pytest.raises(NoAudioStreamError, match="stream 1 does not exist"):
        tiny.transcribe(path, TranscribeOptions(stream_index=1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(tiny: Transcriber, bad: float) -> None:
    x = tone(1, 16000)
    x[8000] = bad
    with pytest.raises(InvalidAudioError, match=r"NaN or infinite samples \(first at 0.50 s\)"):
        tiny.transcribe(x, TranscribeOptions(sample_rate=16000))


def test_nan_in_float_wav(tiny: Transcriber, tmp_path: Path) -> None:
    x = tone(1, 16000)
    x[100] = np.nan
    path = tmp_path / "nan.raw"
    path.write_bytes(x.astype("<f4").tobytes())
    with pytest.raises(InvalidAudioError):
        tiny.transcribe(path, TranscribeOptions(raw=RawFormat("f32le"), sample_rate=16000))


def test_raw_needs_rate(tiny: Transcriber) -> None:
    with pytest.raises(UnknownSampleRateError):
        tiny.transcribe(b"\0\1" * 8000, TranscribeOptions(raw=RawFormat("s16le")))


@pytest.mark.parametrize("segmentation", ["vad", "window"])
def test_silence_gives_empty_text(tiny: Transcriber, segmentation: str) -> None:
    quiet = np.random.default_rng(0).normal(0, SILENCE_PEAK / 5, 48000).astype(np.float32)
    options = TranscribeOptions(sample_rate=16000, segmentation=segmentation)  # type: ignore[arg-type]
    for silence in (np.zeros(48000, np.float32), quiet):
        result = tiny.transcribe(silence, options)
        assert result.text == "" and result.words == ()


def test_audible_audio_without_speech_says_why_the_text_is_empty(tiny: Transcriber) -> None:
    """VAD hears no speech in a tone: the empty transcript carries a warning naming the way
    out; silence needs none, and the window path (which runs the model) gives none."""
    audible = tiny.transcribe(tone(2.0, 16000, amp=0.1), TranscribeOptions(sample_rate=16000))
    assert audible.text == ""
    (warning,) = audible.warnings
    assert "no speech" in warning and "-20 dBFS" in warning and "window segmentation" in warning
    assert "--" not in warning and "=" not in warning  # read in Python, the CLI and HTTP alike
    silent = tiny.transcribe(np.zeros(32000, np.float32), TranscribeOptions(sample_rate=16000))
    window = TranscribeOptions(sample_rate=16000, segmentation="window")
    assert not silent.warnings and not tiny.transcribe(tone(2.0, 16000), window).warnings


def test_negative_control_normalised_noise_floor_is_garbage(tiny: Transcriber) -> None:
    """Without the silence guard, the model invents words from an amplified noise floor."""
    quiet = np.random.default_rng(0).normal(0, SILENCE_PEAK / 5, 48000).astype(np.float32)
    assert tiny.model.vocab.tokens  # the same model, run directly on the same samples
    from wav2text.ctc import best_path

    ids, _ = best_path(tiny.model.log_probs(quiet))
    assert (ids != tiny.model.vocab.blank).any()


# --- invariance: every container, rate and layout of the same audio --------------


def model_input(source: object, **options: object) -> np.ndarray:
    from wav2text.audio import open_audio, to_mono
    from wav2text.rate import resample_stream

    audio = open_audio(source, **options)  # type: ignore[arg-type]
    return np.concatenate(list(resample_stream(to_mono(audio), audio.rate, 16000)))


def similarity(a: np.ndarray, b: np.ndarray, max_lag: int = 480) -> float:
    """Best correlation within +-30 ms: codecs may add a few ms of priming delay."""
    n = min(len(a), len(b)) - max_lag
    b = b[max_lag // 2 : max_lag // 2 + n]
    return max(float(np.corrcoef(a[lag : lag + n], b)[0, 1]) for lag in range(0, max_lag, 1))


@pytest.fixture(scope="module")
def reference(speech_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "ref16k.wav"
    ffmpeg("-i", str(speech_wav), "-ar", "16000", "-ac", "1", str(path))
    return path


LOSSLESS_16K = {  # bit-identical samples after decode and downmix: identical transcript
    "flac": ["-c:a", "flac"],
    "aiff": [],
    "wav-stereo": ["-ac", "2"],
    "w64": [],
    "wav-5.1": ["-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0"],
}


@pytest.mark.parametrize("variant", LOSSLESS_16K)
def test_lossless_variants_give_identical_transcripts(
    tiny: Transcriber, reference: Path, tmp_path: Path, variant: str
) -> None:
    ext = {"aiff": "aiff", "w64": "w64", "flac": "flac"}.get(variant, "wav")
    path = tmp_path / f"v.{ext}"
    ffmpeg("-i", str(reference), *LOSSLESS_16K[variant], str(path))
    expected = tiny.transcribe(reference).text
    assert expected and tiny.transcribe(path).text == expected


RESAMPLED = {  # other rates, codecs and layouts: the audio reaching the model is the same
    "wav-8k-up": None,
    "wav-22050": ["-ar", "22050"],
    "wav-44100-stereo": ["-ar", "44100", "-ac", "2"],
    "flac-48000": ["-ar", "48000"],
    "flac-96000": ["-ar", "96000"],
    "ogg-vorbis-44100": ["-ar", "44100", "-c:a", "libvorbis", "-q:a", "8"],
    "opus-48000": ["-c:a", "libopus", "-b:a", "128k"],
    "m4a-aac-44100": ["-ar", "44100", "-b:a", "192k"],
    "mp3-44100-stereo": ["-ar", "44100", "-ac", "2", "-b:a", "256k"],
    "webm-opus": ["-c:a", "libopus", "-b:a", "128k"],
    "aiff-s16be-32000": ["-ar", "32000"],
    "wav-5.1-48000": ["-ar", "48000", "-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0"],
}
EXT = {
    "m4a": "m4a",
    "mp3": "mp3",
    "ogg": "ogg",
    "opus": "opus",
    "webm": "webm",
    "aiff": "aiff",
    "flac": "flac",
}


@pytest.mark.parametrize("variant", [v for v in RESAMPLED if RESAMPLED[v] is not None])
def test_every_rate_layout_and_codec_reaches_the_model_as_the_reference(
    reference: Path, tmp_path: Path, variant: str
) -> None:
    path = tmp_path / f"v.{EXT.get(variant.split('-')[0], 'wav')}"
    ffmpeg("-i", str(reference), *RESAMPLED[variant], str(path))  # type: ignore[misc]
    assert similarity(model_input(path), model_input(reference)) > 0.98


def test_negative_control_unresampled_audio_is_not_the_reference(
    tiny: Transcriber, reference: Path, tmp_path: Path
) -> None:
    """44.1 kHz audio read as if it were 16 kHz: what every hand-written loader risks."""
    path = tmp_path / "v44.wav"
    ffmpeg("-i", str(reference), "-ar", "44100", str(path))
    wrong = TranscribeOptions(sample_rate=16000)  # overrides the (right) header
    assert similarity(model_input(path, sample_rate=16000), model_input(reference)) < 0.5
    assert tiny.transcribe(path, wrong).text != tiny.transcribe(reference).text
    assert tiny.transcribe(path).audio.resampled


def test_stdin_like_stream(tiny: Transcriber, reference: Path) -> None:
    proc = subprocess.run(["cat", str(reference)], capture_output=True, check=True)
    from conftest import Pipe

    assert tiny.transcribe(Pipe(proc.stdout)).text == tiny.transcribe(reference).text


def test_bfloat16_on_cpu_is_autocast_over_float32_weights(tiny_dir: Path) -> None:
    from wav2text import ModelOptions

    audio = noisy_tone(3.0, 16000, seed=7)
    full = Transcriber(ModelOptions(str(tiny_dir), device="cpu"))
    half = Transcriber(ModelOptions(str(tiny_dir), device="cpu", dtype="bfloat16"))
    assert half.model.dtype == torch.float32 and half.model.autocast == torch.bfloat16
    exact, low = full.model.log_probs(audio), half.model.log_probs(audio)
    assert low.shape == exact.shape
    assert np.abs(low - exact).max() > 1e-4  # bf16 products really ran (not float32)...
    assert (low.argmax(-1) == exact.argmax(-1)).mean() > 0.8  # ...and mostly agree


def test_progress_is_reported_as_the_audio_is_read(tiny: Transcriber, tmp_path: Path) -> None:
    """A callback for one long file: seconds read, and the total the container declares."""
    from wav_files import write_s16_wav

    wav = write_s16_wav(
        tmp_path / "long.wav", [(noisy_tone(12.0, 16000) * 9000).astype("<i2")], 16000
    )
    said: list[tuple[float, float | None]] = []
    tiny.transcribe(wav, TranscribeOptions(progress=lambda done, total: said.append((done, total))))
    assert len(said) >= 3 and said[-1] == (12.0, 12.0)
    assert [d for d, _ in said] == sorted(d for d, _ in said)


@pytest.mark.parametrize("segmentation", ["vad", "window"])
def test_transcribe_stream_hands_out_each_word_once_as_transcribe_has_it(
    segmentation: str,
) -> None:
    """The words handed out while an input is decided are exactly its transcript's words,
    in order, in more than one tuple (the sample twice, with a pause, in 4-s windows)."""
    from wav2text import BUNDLED_MODEL, Transcript
    from wav2text.audio import open_audio, to_mono

    sample = Path(__file__).resolve().parents[1] / "samples" / "conscience_rms_48k_stereo.opus"
    opened = open_audio(sample)
    one = np.concatenate(list(to_mono(opened)))
    audio = np.concatenate([one, np.zeros(opened.rate or 0, np.float32), one])
    transcriber = Transcriber(BUNDLED_MODEL)
    options = TranscribeOptions(
        sample_rate=opened.rate, segmentation=segmentation, chunk_length_s=4, stride_length_s=1
    )
    *told, transcript = transcriber.transcribe_stream(audio, options)
    assert isinstance(transcript, Transcript) and len(told) > 1
    assert [w for words in told for w in words] == list(transcript.words)
    assert transcript == transcriber.transcribe(audio, options)


def test_empty_input_is_empty_audio_from_every_input_kind(
    tiny: Transcriber, tmp_path: Path
) -> None:
    """A path, bytes, a BytesIO, an open file and a pipe, each with no bytes: the same
    EmptyAudioError, not "not a readable audio file"."""
    import io
    import os

    from wav2text.errors import EmptyAudioError

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    read_end, write_end = os.pipe()
    os.close(write_end)
    with empty.open("rb") as opened, os.fdopen(read_end, "rb") as pipe:
        for source in (empty, b"", io.BytesIO(b""), opened, pipe):
            with pytest.raises(EmptyAudioError, match="0 bytes"):
                tiny.transcribe(source)
    partly_read = io.BytesIO(b"RIFF")
    partly_read.read()
    with pytest.raises(EmptyAudioError, match="no bytes left"):
        tiny.transcribe(partly_read)
