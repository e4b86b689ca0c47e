"""The CLI shell: arguments, outputs, failures that do not stop the batch, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tone
from wav2text import __version__
from wav2text.cli import main


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "wav2text.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
    )


def test_version_and_help() -> None:
    assert run("--version").stdout.decode().strip() == f"wav2text {__version__}"
    help_text = run("transcribe", "--help").stdout.decode()
    assert "examples:" in help_text and "--raw" in help_text


@pytest.fixture()
def wav(tmp_path: Path) -> Path:
    from conftest import ffmpeg

    path = tmp_path / "talk.wav"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-ar", "44100", "-ac", "2", str(path)
    )
    return path


def test_all_formats_to_directory(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(["transcribe", str(wav), "-m", str(tiny_dir), "-f", "all", "-o", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "talk.json",
        "talk.srt",
        "talk.tsv",
        "talk.txt",
        "talk.vtt",
    ]
    facts = json.loads((out / "talk.json").read_text())["audio"]
    assert facts["source_rate"] == 44100 and facts["channels"] == 2 and facts["resampled"]


def test_one_bad_file_does_not_stop_the_rest(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio")
    proc = run("transcribe", str(bad), str(wav), "-m", str(tiny_dir), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "notes.mp3: not a readable audio" in err and "1 of 2 inputs failed" in err
    assert "Traceback" not in err
    assert (tmp_path / "o" / "talk.txt").exists() and not (tmp_path / "o" / "notes.txt").exists()


def test_inputs_that_would_write_the_same_outputs_stop_before_anything_runs(
    wav: Path, tmp_path: Path
) -> None:
    other = tmp_path / "b" / wav.name
    other.parent.mkdir()
    other.write_bytes(wav.read_bytes())
    out = tmp_path / "o"
    # the model does not exist: the clash must be found before loading it
    proc = run("transcribe", str(wav), str(other), "-m", str(tmp_path / "nope"), "-o", str(out))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert f"{wav} and {other}: both would be written to" in err and "nothing was written" in err
    assert not out.exists()
    proc = run("transcribe", str(wav), str(wav), "-m", str(tmp_path / "nope"), "-o", str(out))
    assert "is listed twice" in proc.stderr.decode()


def test_skip_existing_resumes_a_stopped_run(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.wav"
    second.write_bytes(wav.read_bytes())
    out = tmp_path / "o"
    args = ["transcribe", str(wav), str(second), "-m", str(tiny_dir), "-f", "all", "-o", str(out)]
    assert main(args) == 0
    (out / "second.srt").unlink()  # as if the run had stopped while writing second's outputs
    (out / "talk.txt").write_text("kept")
    proc = run(*args, "--skip-existing")
    assert proc.returncode == 0
    assert "skipping 1 inputs already transcribed" in proc.stderr.decode()
    assert (out / "talk.txt").read_text() == "kept" and (out / "second.srt").exists()
    assert main(args) == 0  # negative control: without the flag everything is redone
    assert (out / "talk.txt").read_text() != "kept"


def test_raw_from_stdin(tiny_dir: Path) -> None:
    pcm = (tone(1.0, 22050) * 32767).astype("<i2").tobytes()
    proc = run(
        "transcribe",
        "-",
        "--raw",
        "s16le",
        "--sample-rate",
        "22050",
        "--channels",
        "1",
        "-m",
        str(tiny_dir),
        "-f",
        "json",
        stdin=pcm,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    facts = json.loads(proc.stdout)["audio"]
    assert facts["steps"] == "decode pcm_s16le -> resample 22050->16000 Hz"
    assert facts["rate_source"] == "given"


def test_raw_without_rate_is_a_clear_error(tiny_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.raw"
    path.write_bytes(np.zeros(16000, "<i2").tobytes())
    proc = run("transcribe", str(path), "--raw", "s16le", "-m", str(tiny_dir))
    assert proc.returncode == 1
    assert "--sample-rate" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "all"], "output directory"),
        (["--skip-existing"], "give their directory with -o DIR"),
        (["--ray"], "--ray writes each file's outputs as they come"),
        (["--workers", "0"], "a whole number of 1 or more"),
        (["--channels", "2"], "use it with --raw"),
        (["--chunk-length", "4", "--stride-length", "3"], "chunk_length_s > 2 * stride_length_s"),
        (["--batch-size", "0"], "batch_size must be"),
        (["--max-segment", "1"], "max_segment_s must be at least"),
        (["--threads", "0"], "threads must be"),
    ],
)
def test_usage_errors(wav: Path, args: list[str], message: str) -> None:
    proc = run("transcribe", str(wav), *args)
    assert proc.returncode == 2 and message in proc.stderr.decode()


def test_speed_options_reach_the_library(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    """Window segmentation, batches, windows and a thread count are accepted and used: a
    tone is no speech, so only the window runs give words (the default VAD run gives none)."""
    texts = []
    for extra in (
        [],
        ["--batch-size", "3", "--threads", "1", "--chunk-length", "0.8", "--stride-length", "0.2"],
    ):
        out = tmp_path / str(len(extra))
        args = ["transcribe", str(wav), "-m", str(tiny_dir), "-o", str(out), "-f", "json"]
        assert main([*args, "--segmentation", "window", *extra]) == 0
        texts.append(json.loads((out / "talk.json").read_text())["text"])
    assert texts[0] and texts[1]
    out = tmp_path / "vad"
    assert main(["transcribe", str(wav), "-m", str(tiny_dir), "-o", str(out), "-f", "json"]) == 0
    assert json.loads((out / "talk.json").read_text())["text"] == ""


def test_missing_model_is_a_clear_error(wav: Path, tmp_path: Path) -> None:
    proc = run("transcribe", str(wav), "-m", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert (
        "could not load model" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()
    )


@pytest.mark.filterwarnings("default::UserWarning")  # as outside pytest: shown, not raised
def test_load_warnings_other_than_the_bundled_notice_are_warnings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    import wav2text.pipeline
    from wav2text.cli import _transcriber
    from wav2text.options import ModelOptions
    from wav2text.resolve import BundledModelWarning

    class Loud:
        def __init__(self, options: object) -> None:
            warnings.warn("no GPU here", UserWarning, stacklevel=2)
            warnings.warn("using the demo model", BundledModelWarning, stacklevel=2)

    monkeypatch.setattr(wav2text.pipeline, "Transcriber", Loud)
    _transcriber(ModelOptions())
    assert capsys.readouterr().err.splitlines() == [
        "wav2text: warning: no GPU here",
        "wav2text: note: using the demo model",
    ]


def test_help_and_argument_errors_load_neither_torch_nor_transformers() -> None:
    """`wav2text --help` answers at once: the heavy imports wait for a model."""
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['wav2text', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('wav2text', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'av') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    for args in (
        ["--help"],
        ["transcribe", "--help"],
        ["transcribe"],
        ["transcribe", "x", "-f", "mp3"],
    ):
        run = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True)
        assert "HEAVY []" in run.stderr, (args, run.stderr[-300:])


def test_negative_control_the_package_itself_would_load_torch() -> None:
    """What the probe above sees when something does import the model stack."""
    probe = "import sys, wav2text; wav2text.Transcriber; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.stdout.strip() == "True"


def test_every_public_name_resolves() -> None:
    import wav2text

    for name in wav2text.__all__:
        assert getattr(wav2text, name) is not None
    with pytest.raises(AttributeError):
        wav2text.NoSuchThing  # noqa: B018
