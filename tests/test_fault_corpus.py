"""The bad-input corpus (tests/fault_corpus.py) through the library (path, bytes, file
object), the CLI and the server: every kind ends in a transcript or a clear error of
wav2text's own, in bounded time; no traceback, no partial output, no 500."""

from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import need_tool
from fault_corpus import file_kinds, library_kinds
from wav2text import TranscribeOptions, Transcriber, Wav2TextError
from wav2text.cli import main
from wav2text.results import Transcript
from wav2text.serving.server import create_app

EACH_S = 20.0  # the most one kind may take


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    need_tool("ffmpeg")
    folder = tmp_path_factory.mktemp("corpus")
    paths = []
    for name, data in file_kinds(folder):
        paths.append(folder / name)
        paths[-1].write_bytes(data)
    return paths


def judged(run: object) -> str:
    """ "ok" (a transcript), "refused" (wav2text's own error), or what went wrong."""
    started = time.monotonic()
    try:
        outcome = run()  # type: ignore[operator]
    except Wav2TextError:
        verdict = "refused"
    except Exception as error:
        verdict = f"BROKE {type(error).__name__}: {error}"
    else:
        verdict = "ok" if isinstance(outcome, Transcript) else f"BROKE returned {outcome!r}"
    if time.monotonic() - started > EACH_S:
        verdict = f"SLOW {time.monotonic() - started:.0f} s"
    return verdict


def report(title: str, verdicts: dict[str, str]) -> None:
    counts = Counter("ok" if v == "ok" else "refused" if v == "refused" else "broke"
                     for v in verdicts.values())  # fmt: skip
    print(f"\n  {title}: {len(verdicts)} kinds, {counts['ok']} transcribed, "
          f"{counts['refused']} refused with a clear error, {counts['broke']} broke")  # fmt: skip


def test_the_corpus_is_large(corpus: list[Path]) -> None:
    assert len(corpus) >= 101 and len(list(library_kinds())) >= 85


@pytest.mark.parametrize("as_", ["path", "bytes", "file object"])
def test_every_file_kind_through_the_library(
    tiny: Transcriber, corpus: list[Path], as_: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def source(path: Path) -> object:
        return {
            "path": path,
            "bytes": path.read_bytes(),
            "file object": io.BytesIO(path.read_bytes()),
        }[as_]

    verdicts = {p.name: judged(lambda p=p: tiny.transcribe(source(p))) for p in corpus}
    with capsys.disabled():
        report(f"library, as {as_}", verdicts)
    broke = {k: v for k, v in verdicts.items() if v not in ("ok", "refused")}
    assert not broke


def test_every_library_kind(tiny: Transcriber, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = {
        name: judged(
            lambda make=make, fields=fields: tiny.transcribe(make(), TranscribeOptions(**fields))
        )
        for name, make, fields in library_kinds()
    }
    with capsys.disabled():
        report("library-only values and options", verdicts)
    assert not {k: v for k, v in verdicts.items() if v not in ("ok", "refused")}


def test_the_cli_over_the_whole_corpus(
    tiny_dir: Path, corpus: list[Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["transcribe", *map(str, corpus), "-m", str(tiny_dir), "-o", str(out)])
    err = capfd.readouterr().err
    assert code == 1  # some inputs failed, each said once, the rest written
    assert "Traceback" not in err and "please report" not in err
    lines = [line.strip() for line in err.replace("\r", "\n").splitlines()]
    failed = [ln for ln in lines if ln.startswith("wav2text: /") and ": warning: " not in ln]
    written = {p.stem for p in out.glob("*.txt")}
    assert len(failed) + len(written) == len(corpus)
    assert not list(out.glob(".*.part"))
    with capfd.disabled():
        print(f"\n  CLI: {len(corpus)} kinds in one batch, {len(written)} written, "
              f"{len(failed)} refused with one line each, 0 tracebacks")  # fmt: skip


def test_the_server_over_the_whole_corpus(
    tiny: Transcriber, corpus: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    client = TestClient(create_app(tiny), raise_server_exceptions=False)
    statuses: Counter[int] = Counter()
    for path in corpus:
        answer = client.post(
            "/v1/audio/transcriptions", files={"file": (path.name, path.read_bytes())}
        )
        statuses[answer.status_code] += 1
        assert answer.status_code in (200, 400, 413), (path.name, answer.text[:300])
        if answer.status_code != 200:
            error = answer.json()["error"]
            assert error["message"] and "please report" not in error["message"]
    with capsys.disabled():
        print(
            f"\n  server: {len(corpus)} uploads, statuses {dict(sorted(statuses.items()))}, no 500"
        )
