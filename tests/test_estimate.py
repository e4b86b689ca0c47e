"""sample_rate="auto": the bundled model tells the rate of unlabelled speech, or says it cannot."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr

from conftest import need_tool
from wav2text import (
    BUNDLED_MODEL,
    EmptyAudioError,
    OptionsError,
    RawFormat,
    SampleRateMismatchError,
    TranscribeOptions,
    Transcriber,
    UnknownSampleRateError,
)
from wav2text.audio import open_audio, to_mono
from wav2text.cli import main
from wav2text.estimation.estimator import (
    MISLABEL_CONFIDENCE,
    RateCheck,
    _model_score,
    estimate_rate,
    probability_near,
)
from wav2text.rate import CANDIDATE_RATES, RATE_CONFIDENCE
from wav2text.serving.metrics import Metrics
from wav2text.serving.replies import failure_parts
from wav_files import write_s16_wav

S16 = RawFormat("s16le", 1)
AUTO = TranscribeOptions(raw=S16, sample_rate="auto")


@pytest.fixture(scope="module")
def bundled() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    need_tool("espeak-ng")
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    text = "the quick brown fox jumps over the lazy dog and runs into the woods"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    audio = open_audio(path)
    return np.concatenate(list(to_mono(audio))), audio.rate


def raw_at(speech: tuple[np.ndarray, int], rate: int) -> bytes:
    samples, source_rate = speech
    resampled = soxr.resample(samples, source_rate, rate, quality="HQ")
    return (np.clip(resampled, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 32000])  # no candidate within 10 %
def test_estimated_rate_gives_the_true_rate_transcript(
    bundled: Transcriber, speech: tuple[np.ndarray, int], rate: int
) -> None:
    data = raw_at(speech, rate)
    auto = bundled.transcribe(data, AUTO)
    known = bundled.transcribe(data, TranscribeOptions(raw=S16, sample_rate=rate))
    assert auto.audio.source_rate == rate and auto.audio.rate_source == "estimated"
    assert auto.audio.rate_confidence is not None and auto.audio.rate_confidence >= RATE_CONFIDENCE
    assert f"rate estimated {rate} Hz" in auto.audio.steps()
    assert auto.text == known.text


@pytest.mark.parametrize(
    ("rate", "neighbour"), [(22050, 24000), (24000, 22050), (44100, 48000), (48000, 44100)]
)
def test_rates_8_8_percent_apart_may_be_confused_but_nothing_further(
    bundled: Transcriber, speech: tuple[np.ndarray, int], rate: int, neighbour: int
) -> None:
    """The judge hears tempo and pitch; 22050 and 24000 differ by less than speakers do.
    Sharing the vote, they make one confident answer."""
    samples = np.frombuffer(raw_at(speech, rate), "<i2") / 32768
    estimate = estimate_rate(samples, bundled.model, CANDIDATE_RATES)
    assert estimate.rate in (rate, neighbour)
    assert {estimate.rate, estimate.runner_up} == {rate, neighbour}
    assert estimate.confidence >= RATE_CONFIDENCE


def test_model_prefers_the_true_rate_to_double_or_half(
    bundled: Transcriber, speech: tuple[np.ndarray, int]
) -> None:
    """The cue itself: read at 2x or 0.5x its rate, speech scores lower."""
    samples = np.frombuffer(raw_at(speech, 16000), "<i2").astype(np.float32) / 32768
    model = bundled.model
    true = _model_score(model, samples, 16000)
    assert true > _model_score(model, samples, 32000)
    assert true > _model_score(model, samples, 8000)


def test_noise_is_refused_with_the_candidates(bundled: Transcriber) -> None:
    noise = (np.random.default_rng(0).standard_normal(16000 * 4) * 0.1).astype("<f4")
    with pytest.raises(UnknownSampleRateError, match=r"best guesses: \d+ Hz"):
        bundled.transcribe(
            noise.tobytes(), TranscribeOptions(raw=RawFormat("f32le"), sample_rate="auto")
        )


def test_estimate_reports_probabilities_and_cost(
    bundled: Transcriber, speech: tuple[np.ndarray, int]
) -> None:
    samples = np.frombuffer(raw_at(speech, 22050), "<i2").astype(np.float32) / 32768
    estimate = estimate_rate(samples, bundled.model, candidates=(16000, 22050, 44100))
    assert next(rate for rate, _ in estimate.probabilities) == estimate.rate
    assert sum(p for _, p in estimate.probabilities) == pytest.approx(1.0)
    assert estimate.runner_up != estimate.rate and estimate.cost_s > 0


def test_empty_input_is_empty_not_unknown(bundled: Transcriber) -> None:
    with pytest.raises(EmptyAudioError):
        bundled.transcribe(b"", AUTO)


def test_auto_is_the_only_word_accepted() -> None:
    with pytest.raises(OptionsError, match="'auto'"):
        TranscribeOptions(sample_rate="fast")  # type: ignore[arg-type]


def test_cli_sample_rate_auto(speech: tuple[np.ndarray, int], tmp_path: Path) -> None:
    path = tmp_path / "call.raw"
    path.write_bytes(raw_at(speech, 8000))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "wav2text",
            "transcribe",
            str(path),
            "-m",
            BUNDLED_MODEL,
            "--raw",
            "s16le",
            "--sample-rate",
            "auto",
            "-f",
            "json",
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert '"rate_source": "estimated"' in (tmp_path / "call.json").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "wav2text", "transcribe", str(path), "--sample-rate", "fast"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "'auto'" in bad.stderr


# --- a header that lies: --check-rate ----------------------------------------------


def wav_labelled(speech: tuple[np.ndarray, int], content: int, header: int, path: Path) -> Path:
    """Speech sampled at `content` Hz in a WAV whose header says `header` Hz."""
    return write_s16_wav(path, [np.frombuffer(raw_at(speech, content), "<i2")], header)


@pytest.mark.parametrize(("content", "header"), [(8000, 16000), (16000, 8000), (22050, 44100)])
def test_mislabelled_header_is_flagged(
    bundled: Transcriber, speech: tuple[np.ndarray, int], tmp_path: Path, content: int, header: int
) -> None:
    path = wav_labelled(speech, content, header, tmp_path / "lying.wav")
    result = bundled.transcribe(path, TranscribeOptions(check_rate=True))
    assert len(result.warnings) == 1
    assert f"declared {header} Hz" in result.warnings[0]
    assert f"sounds like {content} Hz" in result.warnings[0]
    fixed = bundled.transcribe(path, TranscribeOptions(sample_rate=content))
    honest = wav_labelled(speech, content, content, tmp_path / "honest.wav")
    assert fixed.text == bundled.transcribe(honest).text


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_honest_header_gives_no_warning(
    bundled: Transcriber, speech: tuple[np.ndarray, int], tmp_path: Path, rate: int
) -> None:
    path = wav_labelled(speech, rate, rate, tmp_path / "honest.wav")
    assert bundled.transcribe(path, TranscribeOptions(check_rate=True)).warnings == ()


@pytest.mark.parametrize(("content", "given"), [(44100, 16000), (8000, 22050), (16000, 48000)])
def test_a_wrong_rate_given_for_raw_pcm_is_flagged_by_default(
    bundled: Transcriber, speech: tuple[np.ndarray, int], content: int, given: int
) -> None:
    """The rate given for headerless PCM is the one nothing else vouches for: it is
    checked against every standard rate unless the caller says not to (the control)."""
    data = raw_at(speech, content)
    options = TranscribeOptions(raw=RawFormat("s16le"), sample_rate=given)
    warning = bundled.transcribe(data, options).warnings[0]  # (then: no speech at 3x speed)
    assert f"declared {given} Hz" in warning and f"sounds like {content} Hz" in warning
    unchecked = replace(options, check_rate=False)
    assert not any("declared" in w for w in bundled.transcribe(data, unchecked).warnings)
    honest = replace(options, sample_rate=content)
    assert bundled.transcribe(data, honest).warnings == ()


def test_check_rate_in_cli_and_inspect(speech: tuple[np.ndarray, int], tmp_path: Path) -> None:
    path = wav_labelled(speech, 8000, 16000, tmp_path / "lying.wav")
    run = subprocess.run(
        [sys.executable, "-m", "wav2text", "transcribe", str(path), "-m", BUNDLED_MODEL,
         "--check-rate"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0 and "warning: the audio was declared 16000 Hz" in run.stderr
    look = subprocess.run(
        [sys.executable, "-m", "wav2text", "inspect", str(path), "--json", "--check-rate",
         "-m", BUNDLED_MODEL],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '"likely_rate": 8000' in look.stdout


def test_strict_checking_refuses_a_rate_the_speech_does_not_fit(
    bundled: Transcriber, speech: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    """check_rate="strict" / --strict-rate: the mismatch is an error naming the likely rate
    (the control: the honest rate passes); an HTTP client gets 400 with param sample_rate."""
    path = wav_labelled(speech, 8000, 16000, tmp_path / "lying.wav")
    strict = TranscribeOptions(check_rate="strict")
    with pytest.raises(SampleRateMismatchError, match="sounds like 8000 Hz") as caught:
        bundled.transcribe(path, strict)
    assert "sample_rate=8000" in str(caught.value)
    honest = wav_labelled(speech, 8000, 8000, tmp_path / "honest.wav")
    assert bundled.transcribe(honest, strict).warnings == ()
    run = subprocess.run(
        [sys.executable, "-m", "wav2text", "transcribe", str(path), "-m", BUNDLED_MODEL,
         "--strict-rate"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode != 0 and "give --sample-rate 8000" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    status, body = failure_parts(caught.value, Metrics(("/",)))
    assert status == 400 and body["error"]["param"] == "sample_rate"
    assert "declare sample_rate=8000" in body["error"]["message"]
    with pytest.raises(OptionsError, match="strict"):
        TranscribeOptions(check_rate="loose")  # type: ignore[arg-type]


def test_confidence_counts_neighbours_within_ten_percent() -> None:
    """22050 and 24000 split the vote: one answer (the transcript barely differs). 8000 and
    11025 (38 % apart) splitting it is doubt, and doubt is refused."""
    split_near = ((24000, 0.45), (22050, 0.40), (16000, 0.15))
    assert probability_near(split_near, 24000) == pytest.approx(0.85)
    split_far = ((11025, 0.55), (8000, 0.45))
    assert probability_near(split_far, 11025) == pytest.approx(0.55)
    assert probability_near(split_far, 11025) < RATE_CONFIDENCE
    assert probability_near(split_near, 24000) >= RATE_CONFIDENCE


def test_a_declared_rate_the_evidence_leaves_is_flagged_however_the_rest_is_spread() -> None:
    """Speech at 44.1 kHz declared 16 kHz: the evidence split between 44.1 and 48 kHz
    (neither 90 % sure) still leaves 16 kHz 3 %: flagged, naming the likelier. A rate that
    keeps a fair share is not."""
    split = RateCheck(16000, likely=44100, confidence=0.62, fit=0.03)
    assert split.mislabelled and "sounds like 44100 Hz" in (split.warning() or "")
    assert not RateCheck(16000, likely=44100, confidence=0.62, fit=0.3).mislabelled
    assert not RateCheck(16000, likely=16000, confidence=0.97, fit=0.97).mislabelled
    # the control: the earlier rule (the likeliest other rate 90 % sure) let the first by
    assert not (split.confidence >= MISLABEL_CONFIDENCE)


def test_the_confidence_bar_is_the_callers_choice(
    bundled: Transcriber,
    speech: tuple[np.ndarray, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same estimate answers under the default bar and is refused under a stricter one."""
    data = raw_at(speech, 11025)
    answered = bundled.transcribe(data, AUTO)
    confidence = answered.audio.rate_confidence
    assert confidence is not None and RATE_CONFIDENCE <= confidence < 1
    strict = replace(AUTO, rate_confidence=(1 + confidence) / 2)
    with pytest.raises(UnknownSampleRateError, match="best guesses"):
        bundled.transcribe(data, strict)
    path = tmp_path / "call.raw"
    path.write_bytes(data)
    args = ["transcribe", str(path), "--raw", "s16le", "--sample-rate", "auto"]
    assert main([*args, "-m", BUNDLED_MODEL, "--rate-confidence", str(strict.rate_confidence)]) == 1
    assert "could not tell the sampling rate" in capsys.readouterr().err
    for bad in (0, 1.5):
        with pytest.raises(OptionsError, match="rate_confidence is a probability"):
            TranscribeOptions(rate_confidence=bad)


def test_an_upload_chooses_its_rate_check_with_the_check_rate_field(
    bundled: Transcriber, speech: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    """check_rate=strict refuses (400, param sample_rate), true warns (a header's rate is
    not checked by default: the control), a word it does not know names the field."""
    from starlette.testclient import TestClient

    from wav2text.serving.server import create_app

    client = TestClient(create_app(bundled))
    lying = wav_labelled(speech, 8000, 16000, tmp_path / "lying.wav").read_bytes()

    def upload(**fields: str) -> Any:
        files = {"file": ("lying.wav", lying)}
        return client.post("/v1/audio/transcriptions", files=files, data=fields)

    refused = upload(check_rate="strict")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "sample_rate"
    assert "declare sample_rate=8000" in refused.json()["error"]["message"]
    warned = upload(check_rate="true")
    assert warned.status_code == 200 and "8000 Hz" in warned.headers["x-wav2text-warning-0"]
    assert "x-wav2text-warning-0" not in upload().headers  # by default a header is believed
    wrong = upload(check_rate="loose")
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "check_rate"
