"""Messages worded for where they are read: Python names its arguments, the command line its
options, an HTTP answer its form fields, a report row the problem alone (it has no option to
change); an operating system's error is named as itself, not as a bug."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wav2text import BUNDLED_MODEL, AudioDecodeError, Transcriber, TruncatedAudioError
from wav2text.cli import main
from wav2text.errors import RAW, Fix, Wav2TextError, about, reason
from wav2text.serving.server import create_app

URL = "/v1/audio/transcriptions"
PYTHON_WORDS = ("RawFormat", "allow_truncated", "sample_rate=RATE")
CLI_WORDS = ("--raw", "--allow-truncated", "--sample-rate")


@pytest.fixture(scope="module")
def not_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wording") / "notes.bin"
    path.write_bytes(b"these are words, not sounds " * 40)
    return path


@pytest.fixture(scope="module")
def cut_short(tmp_path_factory: pytest.TempPathFactory, speech_wav: Path) -> Path:
    path = tmp_path_factory.mktemp("wording") / "cut.wav"
    data = speech_wav.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def said_by_python(demo: Transcriber, path: Path, kind: type[Exception]) -> str:
    with pytest.raises(kind) as caught:
        demo.transcribe(path)
    return str(caught.value)


def said_by_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["transcribe", str(path), "-m", BUNDLED_MODEL]) != 0
    return capsys.readouterr().err


def said_over_http(demo: Transcriber, path: Path) -> str:
    answer = TestClient(create_app(demo)).post(URL, files={"file": (path.name, path.read_bytes())})
    assert answer.status_code == 400
    return str(answer.json()["error"]["message"])


@pytest.mark.parametrize(
    ("fixture", "kind", "python", "cli", "http"),
    [
        ("not_audio", AudioDecodeError, "raw=RawFormat(FMT)", "--raw FMT", "form fields raw=FMT"),
        ("cut_short", TruncatedAudioError, "allow_truncated=True", "--allow-truncated",
         "send it again"),
    ],
)  # fmt: skip
def test_each_surface_names_its_own_fix(
    request: pytest.FixtureRequest,
    demo: Transcriber,
    capsys: pytest.CaptureFixture[str],
    fixture: str,
    kind: type[Exception],
    python: str,
    cli: str,
    http: str,
) -> None:
    path: Path = request.getfixturevalue(fixture)
    in_python = said_by_python(demo, path, kind)
    assert python in in_python and not any(w in in_python for w in CLI_WORDS)
    in_cli = said_by_cli(path, capsys)
    assert cli in in_cli and not any(w in in_cli for w in PYTHON_WORDS)
    over_http = said_over_http(demo, path)
    assert http in over_http and path.name in over_http
    assert not any(w in over_http for w in (*PYTHON_WORDS, *CLI_WORDS, "CLI"))


def test_a_report_row_says_the_problem_alone() -> None:
    error = AudioDecodeError("a.mp3: not a readable audio or video file", RAW)
    assert reason(error, "report") == "a.mp3: not a readable audio or video file"
    assert reason(error) == f"a.mp3: not a readable audio or video file; {RAW.python}"
    assert Wav2TextError("no fix here").worded("http") == "no fix here"


def test_a_fix_keeps_its_lead_on_every_surface() -> None:
    led = Fix("p", "c", "h").after("or ")
    assert (led.python, led.cli, led.http) == ("or p", "or c", "or h")


def test_an_operating_system_error_is_named_not_called_a_bug() -> None:
    denied = PermissionError(13, "Permission denied", "/data/call.wav")
    assert about("call.wav", denied) == "call.wav: Permission denied (/data/call.wav)"
    assert "please report" in reason(KeyError("x"))  # the control: a bug still says so
