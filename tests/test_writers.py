"""Each output format, and atomic writing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from wav2text.results import AudioInfo, Transcript, Word, segments_from_words
from wav2text.writers import WRITERS, write_atomic, write_outputs

WORDS = (
    Word("HELLO", 0.5, 0.9, 0.91),
    Word("WORLD", 1.0, 1.4, 0.8),
    Word("AGAIN", 3661.25, 3661.9, 0.5),  # after a long pause, past an hour
)
INFO = AudioInfo(44100, "header", 2, "mp3float", "mp3", 16000, True, "2->1 (mean)", 3662.0)
T = Transcript("HELLO WORLD AGAIN", WORDS, segments_from_words(WORDS), 3662.0, INFO, "m")


def render(fmt: str) -> str:
    out = io.StringIO()
    WRITERS[fmt].write(T, out)  # type: ignore[index]
    return out.getvalue()


def test_segments_split_at_pauses() -> None:
    assert [s.text for s in T.segments] == ["HELLO WORLD", "AGAIN"]


def test_txt() -> None:
    assert render("txt") == "HELLO WORLD AGAIN\n"


def test_srt() -> None:
    assert render("srt") == (
        "1\n00:00:00,500 --> 00:00:01,400\nHELLO WORLD\n\n"
        "2\n01:01:01,250 --> 01:01:01,900\nAGAIN\n\n"
    )


def test_vtt() -> None:
    assert render("vtt").startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.400\nHELLO WORLD\n")


def test_tsv() -> None:
    lines = render("tsv").splitlines()
    assert lines[0] == "start\tend\tconfidence\ttext"
    assert lines[1] == "500\t900\t0.910\tHELLO"


def test_json_round_trip() -> None:
    data = json.loads(render("json"))
    assert data["text"] == T.text and data["words"][2]["start"] == 3661.25
    assert (
        data["audio"]["steps"]
        == "decode mp3float -> downmix 2->1 (mean) -> resample 44100->16000 Hz"
    )


def test_outputs_named_after_input(tmp_path: Path) -> None:
    paths = write_outputs(T, tmp_path / "out", "talk", WRITERS)
    assert sorted(p.name for p in paths) == sorted(
        ["talk.txt", "talk.json", "talk.srt", "talk.vtt", "talk.tsv", "talk.verbose.json"]
    )
    assert not list((tmp_path / "out").glob("*.part"))


def test_one_registry_names_every_format() -> None:
    """The CLI's -f choices, `-f all`, and the server's response formats and media types
    all come from the writers' registry."""
    from wav2text.cli import build_parser
    from wav2text.writers import ALL_FORMATS, RESPONSE_WRITERS

    parser = build_parser()
    for name in WRITERS:
        assert parser.parse_args(["transcribe", "x", "-f", name]).format == [name]
    assert parser.parse_args(["transcribe", "x", "-f", "all"]).format == list(ALL_FORMATS)
    assert parser.parse_args(["transcribe", "x", "-f", "srt,json,srt"]).format == ["srt", "json"]
    with pytest.raises(SystemExit):
        parser.parse_args(["transcribe", "x", "-f", "srt,mp3"])
    assert set(ALL_FORMATS) < set(WRITERS)
    assert set(RESPONSE_WRITERS) == {"json", "text", "srt", "vtt", "tsv", "verbose_json"}
    assert RESPONSE_WRITERS["srt"] is WRITERS["srt"]


def test_verbose_json_is_openais_shape() -> None:
    body = json.loads(render("verbose_json"))
    assert body["task"] == "transcribe" and body["text"] == T.text
    assert [w["word"] for w in body["words"]] == ["HELLO", "WORLD", "AGAIN"]
    assert [s["text"] for s in body["segments"]] == ["HELLO WORLD", "AGAIN"]


def test_crash_mid_write_leaves_old_file_and_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "talk.txt"
    target.write_text("previous\n")

    def explode(self: object, transcript: Transcript, file: io.StringIO) -> None:
        file.write("half a transcr")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(WRITERS["txt"]), "write", explode)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, T, "txt")
    assert target.read_text() == "previous\n"
    assert list(tmp_path.iterdir()) == [target]


def test_subtitle_lines_of_a_width_and_cues_of_a_count() -> None:
    """Cues split at word boundaries with the words' own times."""
    from wav2text.writers import CueLayout, writer

    said = ["THE", "QUICK", "BROWN", "FOX", "JUMPS", "OVER", "THE", "LAZY", "DOG", "AGAIN"]
    words = tuple(Word(w, i * 0.5, i * 0.5 + 0.4, 0.9) for i, w in enumerate(said))
    t = Transcript(
        " ".join(w.text for w in words), words, segments_from_words(words), 5.0, INFO, "m"
    )
    out = io.StringIO()
    writer("srt", CueLayout(max_width=16, max_lines=2)).write(t, out)
    cues = out.getvalue().strip().split("\n\n")
    assert cues[0] == "1\n00:00:00,000 --> 00:00:02,900\nTHE QUICK BROWN\nFOX JUMPS OVER"
    assert cues[1] == "2\n00:00:03,000 --> 00:00:04,900\nTHE LAZY DOG\nAGAIN"
    for cue in cues:
        lines = cue.split("\n")[2:]
        assert len(lines) <= 2 and all(len(line) <= 16 for line in lines)
    plain = io.StringIO()
    writer("srt").write(t, plain)  # the negative control: one long line
    assert max(len(line) for line in plain.getvalue().splitlines()) > 16
