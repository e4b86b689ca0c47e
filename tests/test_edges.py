"""Edges a fault campaign found: each of these failed before its fix."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import Pipe, ffmpeg, noisy_tone
from wav2text import (
    AudioDecodeError,
    InvalidAudioError,
    InvalidSampleRateError,
    ModelLoadError,
    ModelOptions,
    OptionsError,
    TimeLimitError,
    TranscribeOptions,
    Transcriber,
    TruncatedAudioError,
)
from wav2text.audio import open_audio, to_mono
from wav2text.cli import main
from wav_files import write_s16_wav


@pytest.fixture()
def wav(tmp_path: Path) -> Path:
    pcm = (noisy_tone(2.0, 16000) * 20000).astype(np.int16)
    return write_s16_wav(tmp_path / "talk.wav", [pcm], 16000)


def decode(source: object, **options: object) -> np.ndarray:
    return np.concatenate(list(to_mono(open_audio(source, **options))))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["bytes", "file object", "pipe"])
def test_truncation_is_found_for_every_kind_of_input(wav: Path, kind: str) -> None:
    cut = wav.read_bytes()[: len(wav.read_bytes()) // 2]
    source = {"bytes": cut, "file object": io.BytesIO(cut), "pipe": Pipe(cut)}[kind]
    with pytest.raises(TruncatedAudioError, match=r"declares \d+ more bytes"):
        decode(source)
    again = {"bytes": cut, "file object": io.BytesIO(cut), "pipe": Pipe(cut)}[kind]
    assert len(decode(again, allow_truncated=True)) > 15000  # the control: the half that is


def test_a_video_that_outlasts_its_sound_is_not_truncated(tmp_path: Path) -> None:
    video = tmp_path / "clip.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=4:size=64x64:rate=5", "-f", "lavfi",
           "-i", "sine=frequency=300:duration=1.5", "-c:v", "libvpx", "-c:a", "libopus",
           str(video))  # fmt: skip
    samples = decode(video)
    assert abs(len(samples) / 48000 - 1.5) < 0.1


@pytest.mark.parametrize("declared", [1, 999, 800_000])
def test_a_header_rate_nobody_uses_is_refused(
    tiny: Transcriber, tmp_path: Path, declared: int
) -> None:
    wav = write_s16_wav(tmp_path / "odd.wav", [np.zeros(64000, np.int16)], declared)
    started = time.monotonic()
    with pytest.raises(InvalidSampleRateError, match=f"declares {declared} Hz"):
        tiny.transcribe(wav)
    assert time.monotonic() - started < 5
    assert tiny.transcribe(wav, TranscribeOptions(sample_rate=16000)).duration == 4.0


def test_paths_that_are_not_audio_files(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="is a directory"):
        decode(tmp_path)
    with pytest.raises(AudioDecodeError, match="is a device"):
        decode("/dev/zero")
    with pytest.raises(AudioDecodeError, match="no such file"):
        decode(tmp_path / "missing.wav")


def test_a_fifo_is_read_as_the_stream_it_is(wav: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat {wav} > {fifo}"])
    try:
        assert len(decode(fifo)) == 32000
    finally:
        writer.wait(10)


def test_a_fifo_nobody_writes_to_says_what_it_waits_for(
    wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a FIFO blocks until a writer comes: the wait is said, and ends when one does
    (without the writer, it would wait as long as the user lets it)."""
    from wav2text import audio

    monkeypatch.setattr(audio, "FIFO_NOTICE_S", 0.2)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"sleep 1; cat {wav} > {fifo}"])
    try:
        with pytest.warns(audio.WaitingForWriterWarning, match="waiting for a program to write"):
            assert len(decode(fifo)) == 32000
    finally:
        writer.wait(10)


def open_files() -> set[str]:
    """What this process's descriptors point to."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
    return found


def test_a_fifo_with_no_writer_gives_up_after_open_timeout_s(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(TimeLimitError, match=r"nothing was written to this FIFO within 0\.3 s"):
        decode(fifo, open_timeout_s=0.3)
    assert 0.3 <= time.monotonic() - started < 3
    assert str(fifo) not in open_files()  # the FIFO is closed again (other tests' garbage may
    # close other descriptors meanwhile: a count would not say)
    with pytest.raises(OptionsError, match="open_timeout_s"):
        TranscribeOptions(open_timeout_s=0)


def test_a_fifo_writer_that_comes_within_open_timeout_s_is_read(wav: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"sleep 0.5; cat {wav} > {fifo}"])
    try:
        assert len(decode(fifo, open_timeout_s=30)) == 32000
    finally:
        writer.wait(10)


def ctrl_c_on() -> None:
    """In the child: Ctrl-C as a terminal gives it. A shell that starts the tests in the
    background ignores SIGINT for them, and a child inherits that (so did `cat`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_cli_waiting_on_a_fifo_ends_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    """SIGTERM is taken as Ctrl-C: one line saying what is left, status 130."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "wav2text", "transcribe", str(fifo), "-m", "wav2text:demo-en"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_on)
    err = ""
    assert process.stderr is not None
    while "waiting for a program to write" not in err:  # the notice comes after 3 s
        line = process.stderr.readline()
        assert line, f"ended before waiting: {err}"
        err += line
    process.send_signal(signum)
    rest = process.communicate(timeout=30)[1]
    assert process.returncode == 130, err + rest
    assert "Traceback" not in err + rest and "1 left" in rest


def test_the_cli_gives_up_on_a_fifo_after_open_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert main(["transcribe", str(fifo), "-m", "wav2text:demo-en", "--open-timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "within 0.2 s" in err and "--open-timeout" in err and "open_timeout_s" not in err


def test_library_inputs_get_clear_errors(wav: Path) -> None:
    for shape in [(0, 1000), (20000, 0)]:
        with pytest.raises(InvalidAudioError, match="no samples or no channels"):
            decode(np.zeros(shape, np.float32), sample_rate=16000)
    with wav.open() as text, pytest.raises(InvalidAudioError, match="text mode"):
        decode(text)
    closed = wav.open("rb")
    closed.close()
    with pytest.raises(InvalidAudioError, match="closed"):
        decode(closed)
    import torch

    with pytest.raises(InvalidAudioError, match="meta"):
        decode(torch.empty(16000, device="meta"), sample_rate=16000)


def test_options_are_bounded_at_construction() -> None:
    for bad in [dict(chunk_length_s=1e9), dict(chunk_length_s=0), dict(max_segment_s=float("nan")),
                dict(max_segment_s=float("inf")), dict(stride_length_s=float("nan"))]:  # fmt: skip
        with pytest.raises(OptionsError):
            TranscribeOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidSampleRateError):
        TranscribeOptions(rate_candidates=(0, -1))
    assert TranscribeOptions(sample_rate=np.float32(16000)).sample_rate == 16000  # type: ignore[arg-type]
    for bad_model in [dict(lm_alpha=float("nan")), dict(beam_size=10**9)]:
        with pytest.raises(OptionsError):
            ModelOptions(**bad_model)  # type: ignore[arg-type]
    with pytest.raises(ModelLoadError, match="MPS is not available"):
        Transcriber(ModelOptions("wav2text:demo-en", device="mps"))


def test_outputs_with_long_names_and_the_umask(tiny_dir: Path, tmp_path: Path) -> None:
    long = tmp_path / ("x" * 240 + ".wav")
    write_s16_wav(long, [(noisy_tone(1.0, 16000) * 20000).astype(np.int16)], 16000)
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        assert main(["transcribe", str(long), "-m", str(tiny_dir), "-o", str(out)]) == 0
    finally:
        os.umask(old)
    (written,) = out.iterdir()
    assert written.name == "x" * 240 + ".txt" and (written.stat().st_mode & 0o777) == 0o644


def test_resume_removes_stale_temporaries(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".talk.txt.k3j2h1.part"  # what a kill -9 mid-write leaves
    stale.write_text("half")
    args = ["transcribe", str(wav), "-m", str(tiny_dir), "-o", str(out), "--skip-existing"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["talk.txt"]


def test_output_places_that_cannot_be_written(
    tiny_dir: Path, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("")
    for where, said in [(a_file, "is a file, not a directory"), (Path("/dev/null/x"), "cannot")]:
        assert main(["transcribe", str(wav), "-m", str(tiny_dir), "-o", str(where)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0] and "Traceback" not in err[0]


def test_an_error_line_names_the_input_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert main(["transcribe", str(empty), "-m", "wav2text:demo-en"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.count(str(empty)) == 1


def test_ctrl_c_says_one_line_and_exits_130(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    inputs = []
    for i in range(40):
        inputs.append(tmp_path / f"c{i}.wav")
        inputs[-1].write_bytes(wav.read_bytes())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "wav2text", "transcribe", *map(str, inputs), "-m",
               str(tiny_dir), "-o", str(out), "--segmentation", "window"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_on)
    deadline = time.monotonic() + 120
    while not (out.exists() and any(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err and "leaked" not in err
    said = [line for line in err.splitlines() if "interrupted" in line]
    assert len(said) == 1 and "left; run again with --skip-existing" in said[0]
    assert not list(out.glob(".*.part"))


def test_directories_and_lists_as_a_batch(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    """A tree of recordings in, the same tree of transcripts out (two talk.wav in
    different folders do not collide); @LIST and --inputs name more; --glob narrows."""
    tree = tmp_path / "calls"
    for folder in ("monday", "tuesday"):
        (tree / folder).mkdir(parents=True)
        (tree / folder / "talk.wav").write_bytes(wav.read_bytes())
    (tree / "notes.txt").write_text("not audio")
    listed = tmp_path / "more.txt"
    listed.write_text(f"# one more\n{wav}\n\n")
    out = tmp_path / "out"
    args = ["transcribe", str(tree), f"@{listed}", "-m", str(tiny_dir), "-o", str(out)]
    assert main(args) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.txt"))
    assert written == ["monday/talk.txt", "talk.txt", "tuesday/talk.txt"]
    narrow = tmp_path / "narrow"
    args = [
        "transcribe",
        str(tree),
        "--glob",
        "monday/*.wav",
        "-m",
        str(tiny_dir),
        "-o",
        str(narrow),
    ]
    assert main(args) == 0
    assert [str(p.relative_to(narrow)) for p in narrow.rglob("*.txt")] == ["monday/talk.txt"]
    assert main(["transcribe", "--inputs", str(listed), "-m", str(tiny_dir), "-o", str(out)]) == 0


def test_an_empty_directory_is_refused(
    tiny_dir: Path, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["transcribe", str(tmp_path / "empty"), "-m", str(tiny_dir)]) == 2
    assert "a directory with no audio or video file in it" in capsys.readouterr().err
    (tmp_path / "empty" / "talk.wav").write_bytes(wav.read_bytes())
    args = ["transcribe", str(tmp_path / "empty"), "--glob", "*.xyz", "-m", str(tiny_dir)]
    assert main(args) == 2  # a pattern that matches nothing is said to be the pattern
    assert "no file below it matches '*.xyz'; check --glob" in capsys.readouterr().err


def test_small_cli_messages_say_what_was_given(
    tiny_dir: Path, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "said.txt"
    text.write_text("hello")
    with pytest.raises(SystemExit):
        main(["align", str(wav), str(text), "-m", str(tiny_dir), "-f", "srt,json"])
    assert "-f srt,json writes several files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["transcribe", str(wav), "-m", str(tiny_dir), "-f", "all"])
    assert "-f all writes several files" in capsys.readouterr().err
    assert main(["align", str(wav), str(text), "-m", str(tmp_path / "no-model")]) == 2
    assert "could not load model" in capsys.readouterr().err  # exit 2, as docs/cli.md says
    assert main(["inspect", str(wav), "--channel", "1"]) == 1  # mono: transcribe refuses it too
    assert "channel 1 asked for, but the audio has 1 channel(s)" in capsys.readouterr().err


def test_kill_9_at_several_moments_then_resume(tiny_dir: Path, wav: Path, tmp_path: Path) -> None:
    """A batch killed outright (no cleanup runs) three times, resumed each time with
    --skip-existing: every output at the end, each the same as a clean run's, and no
    temporary file left."""
    inputs = []
    for i in range(24):
        inputs.append(tmp_path / "in" / f"c{i:02d}.wav")
        inputs[-1].parent.mkdir(exist_ok=True)
        samples = (noisy_tone(1.0 + i / 10, 16000, seed=i) * 20000).astype(np.int16)
        write_s16_wav(inputs[-1], [samples], 16000)
    clean, out = tmp_path / "clean", tmp_path / "out"
    base = [sys.executable, "-m", "wav2text", "transcribe", str(tmp_path / "in"), "-m",
            str(tiny_dir), "-f", "txt,json,srt", "--segmentation", "window"]  # fmt: skip
    subprocess.run([*base, "-o", str(clean)], check=True, capture_output=True)
    for written in (1, 8, 16):  # kill once this many outputs are there
        process = subprocess.Popen([*base, "-o", str(out), "--skip-existing"],
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if out.exists() and len(list(out.glob("*.json"))) >= written:
                break
            time.sleep(0.01)
        process.kill()
        process.wait()
    subprocess.run([*base, "-o", str(out), "--skip-existing"], check=True, capture_output=True)
    final = {p.name: p.read_text() for p in out.iterdir()}
    expected = {p.name: p.read_text() for p in clean.iterdir()}
    assert final == expected  # 0 lost, 0 differing
    assert len(final) == 3 * len(inputs) and not list(out.glob(".*"))  # 0 temporaries
