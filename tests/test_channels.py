"""channels="split": one transcript per channel, merged in time order, labelled."""

from __future__ import annotations

import io
import json
import subprocess
import wave
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soxr

from conftest import Pipe, need_tool
from wav2text import BUNDLED_MODEL, ModelOptions, OptionsError, TranscribeOptions, Transcriber
from wav2text.cli import main
from wav2text.writers import WRITERS

LEFT = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG"
RIGHT = "NEVER GO TO BED MAD SHE SAID TO HIM"
RATE = 16000


def speech(text: str, voice: str) -> np.ndarray:
    need_tool("espeak-ng")
    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text.lower()], capture_output=True)
    with wave.open(io.BytesIO(wav.stdout)) as f:
        x = np.frombuffer(f.readframes(f.getnframes()), "<i2") / 32768
        return soxr.resample(x, f.getframerate(), RATE).astype(np.float32)


def stereo_wav(path: Path, left: np.ndarray, right: np.ndarray, delay_s: float = 1.5) -> Path:
    """Two speakers, one per channel, the second starting while the first still talks."""
    right = np.concatenate([np.zeros(int(delay_s * RATE), np.float32), right])
    both = np.zeros((max(len(left), len(right)), 2), np.float32)
    both[: len(left), 0], both[: len(right), 1] = left, right
    with wave.open(str(path), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes((both * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def demo() -> Transcriber:
    return Transcriber(BUNDLED_MODEL)  # with its language model


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("call")
    return stereo_wav(folder / "call.wav", speech(LEFT, "en-us"), speech(RIGHT, "en-us+f3"))


def said_on(transcript: object, channel: int) -> str:
    return " ".join(w.text for w in transcript.words if w.channel == channel)  # type: ignore[attr-defined]


SPLIT = TranscribeOptions(channels="split")


def test_each_speaker_on_their_own_channel(demo: Transcriber, call: Path) -> None:
    split = demo.transcribe(call, SPLIT)
    left, right = jiwer.wer(LEFT, said_on(split, 0)), jiwer.wer(RIGHT, said_on(split, 1))
    mixed = demo.transcribe(call).text
    assert left <= 0.2 and right <= 0.2
    assert jiwer.wer(f"{LEFT} {RIGHT}", mixed) > 0.3  # the voices mixed lose words
    starts = [w.start for w in split.words]
    assert starts == sorted(starts) and {w.channel for w in split.words} == {0, 1}
    assert split.text.splitlines()[0].startswith("[0] ")
    assert split.audio.steps().startswith("decode pcm_s16le -> split 2->2")


def test_negative_control_swapped_channels_swap_the_labels(
    demo: Transcriber, call: Path, tmp_path: Path
) -> None:
    swapped = stereo_wav(
        tmp_path / "swapped.wav", speech(RIGHT, "en-us+f3"), speech(LEFT, "en-us"), 0
    )
    result = demo.transcribe(swapped, SPLIT)
    assert jiwer.wer(LEFT, said_on(result, 0)) > 0.8  # the test above would catch a swap
    assert jiwer.wer(LEFT, said_on(result, 1)) <= 0.2


def count_passes(transcriber: Transcriber) -> list[int]:
    calls: list[int] = []
    forward = transcriber.model.log_probs_batch

    def counted(batch: list, language: str | None = None) -> list:
        calls.append(len(batch))
        return forward(batch, language)

    transcriber.model.log_probs_batch = counted  # type: ignore[method-assign]
    return calls


def test_identical_channels_are_transcribed_once(tmp_path: Path) -> None:
    demo = Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))
    voice = speech(LEFT, "en-us")
    mono_as_stereo = stereo_wav(tmp_path / "same.wav", voice, voice, 0)
    mono = demo.transcribe(mono_as_stereo)
    calls = count_passes(demo)
    split = demo.transcribe(mono_as_stereo, SPLIT)
    once = len(calls)
    assert split.warnings == ("channel 1 holds the same audio as channel 0: transcribed once",)
    assert [w.text for w in split.words] == [w.text for w in mono.words]
    silent = stereo_wav(tmp_path / "silent.wav", voice, np.zeros(1, np.float32), 0)
    demo.transcribe(silent, SPLIT)
    assert len(calls) - once == once  # a silent channel costs no forward pass


def test_writers_label_the_channels(demo: Transcriber, call: Path) -> None:
    split = demo.transcribe(call, SPLIT)
    data = json.loads(WRITERS["json"].render(split))
    assert {w["channel"] for w in data["words"]} == {0, 1}
    assert {s["channel"] for s in data["segments"]} == {0, 1}
    assert "\n[1] NEVER" in WRITERS["srt"].render(split)
    assert "<v channel 0>THE" in WRITERS["vtt"].render(split)
    rows = WRITERS["tsv"].render(split).splitlines()
    assert rows[0] == "start\tend\tconfidence\tchannel\ttext" and rows[1].split("\t")[3] == "0"
    plain = demo.transcribe(call)
    assert WRITERS["tsv"].render(plain).splitlines()[0] == "start\tend\tconfidence\ttext"


def test_split_refuses_what_it_cannot_do(demo: Transcriber, call: Path) -> None:
    with pytest.raises(OptionsError, match="use one of them"):
        TranscribeOptions(channels="split", channel=1)

    with pytest.raises(OptionsError, match="cannot be read again"):
        demo.transcribe(Pipe(b""), SPLIT)
    with call.open("rb") as file:  # a seekable file object is read once per channel
        assert said_on(demo.transcribe(file, SPLIT), 1)


def test_cli_and_server(call: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from wav2text.serving.server import create_app

    assert (
        main(["transcribe", str(call), "-m", BUNDLED_MODEL, "--lm", "none", "--split-channels"])
        == 0
    )
    lines = capfd.readouterr().out.splitlines()
    assert [line[:4] for line in lines] == ["[0] ", "[1] "]
    client = TestClient(create_app(Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))))
    with call.open("rb") as file:
        answer = client.post(
            "/v1/audio/transcriptions",
            files={"file": ("call.wav", file)},
            data={"split_channels": "true", "response_format": "verbose_json"},
        )
    assert answer.status_code == 200 and answer.json()["text"].startswith("[0] ")
