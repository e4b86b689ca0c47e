"""Messages worded for where they are read: Python names its arguments, the command line its
options, an HTTP answer its form fields, a report row the problem alone (it has no option to
change); an operating system's error is named as itself, not as a bug."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import wav2text
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


def _fixes_in_the_source() -> list[tuple[str, int, list[str]]]:
    """Every Fix(python, cli, http) written in the package: its literal text per surface."""
    import ast

    found = []
    for path in sorted(Path(wav2text.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            called = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Fix"
            if called and len(node.args) == 3:  # type: ignore[attr-defined]
                texts = [_literal(arg) for arg in node.args]  # type: ignore[attr-defined]
                found.append((path.name, node.lineno, texts))
    return found


def _literal(node: object) -> str:
    import ast

    return "".join(
        part.value
        for part in ast.walk(node)  # type: ignore[arg-type]
        if isinstance(part, ast.Constant) and isinstance(part.value, str)
    )


PYTHON_ONLY = re.compile(r"RawFormat\(|\w=(None|True|False|')|\b[a-z]+_[a-z_]+=")
PYTHON_NAME = re.compile(r"\b[a-z]+_[a-z_]+\b")  # an option's Python name: open_timeout_s
PYTHON_VALUE = re.compile(r"RawFormat\(|=(None|True|False)\b")  # form fields are name=value
CLI_FLAG = re.compile(r"(^|\s)--[a-z]")


def test_every_fix_in_the_source_names_only_what_its_surface_has() -> None:
    """Python wording names no CLI flag; CLI wording no Python argument; HTTP wording no
    Python argument, and a CLI flag only where it tells the server's operator what to do."""
    fixes = _fixes_in_the_source()
    assert len(fixes) >= 15  # the walk finds them (a broken walk would pass vacuously)
    for name, line, (python, cli, http) in fixes:
        where = f"{name}:{line}"
        assert not CLI_FLAG.search(python), f"{where}: a CLI flag in Python wording: {python}"
        assert not PYTHON_ONLY.search(cli), f"{where}: Python in CLI wording: {cli}"
        assert not PYTHON_NAME.search(cli.replace("sample-rate", "")), f"{where}: {cli}"
        assert not PYTHON_VALUE.search(http), f"{where}: Python in HTTP wording: {http}"
        operator = "server" in http or "operator" in http
        assert operator or not CLI_FLAG.search(http), f"{where}: a CLI flag over HTTP: {http}"


def test_the_source_walk_catches_a_misworded_fix() -> None:
    """Negative control: the rules above refuse a fix that mixes its surfaces."""
    assert CLI_FLAG.search("pass raw=RawFormat(FMT) (CLI: --raw FMT)")
    assert PYTHON_ONLY.search("add --raw FMT or raw=RawFormat(FMT)")
    assert PYTHON_NAME.search("raise open_timeout_s")
    assert PYTHON_ONLY.search("send allow_truncated=True")
    assert PYTHON_VALUE.search("send allow_truncated=True")
