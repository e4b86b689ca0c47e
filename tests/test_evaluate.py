"""wav2text eval: manifests in every shape, scores that match jiwer run by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jiwer
import pytest
from training.real import REAL_DIR, real_clips

from wav2text import BUNDLED_MODEL, ModelOptions, OptionsError, Transcriber
from wav2text.cli import main
from wav2text.evaluate import Item, Normalisation, evaluate, markdown, read_manifest

CLIPS = [c for c in real_clips() if c.path.suffix != ".raw"][:4]


@pytest.fixture(scope="module")
def demo() -> Transcriber:
    return Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))


def test_normalisation() -> None:
    normalise = Normalisation()
    assert normalise("  Don't stop -- 'now', Café!  ") == "DON'T STOP NOW CAFÉ"
    assert Normalisation(case=True)("Don't stop.") == "Don't stop"
    assert Normalisation(punctuation=True)("don't stop.") == "DON'T STOP."


def test_manifests_in_every_shape(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("path\ttext\nx.wav\tHELLO THERE\n")
    (tmp_path / "b.csv").write_text('audio,transcript\nx.wav,"hello, there"\n')
    (tmp_path / "c.jsonl").write_text(json.dumps({"file": "x.wav", "sentence": "hi"}) + "\n")
    for name in ("a.tsv", "b.csv", "c.jsonl"):
        (item,) = read_manifest(tmp_path / name)
        assert item.audio == tmp_path / "x.wav"
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "one.wav").write_bytes(b"")
    (folder / "one.txt").write_text("ONE\n")
    (folder / "lonely.wav").write_bytes(b"")
    assert read_manifest(folder) == [Item(folder / "one.wav", "ONE")]
    (tmp_path / "bad.tsv").write_text("name\tsaid\nx.wav\thi\n")
    with pytest.raises(OptionsError, match="needs an audio column"):
        read_manifest(tmp_path / "bad.tsv")


def test_the_shipped_real_clips_manifest_reads_as_it_is() -> None:
    items = read_manifest(REAL_DIR / "manifest.tsv")
    assert len(items) == 28 and all(item.audio.is_file() for item in items)


def test_scores_match_jiwer_run_by_hand(demo: Transcriber) -> None:
    items = [Item(c.path, c.transcript) for c in CLIPS]
    result = evaluate(demo, items)
    normalise = Normalisation()
    refs = [normalise(c.transcript) for c in CLIPS]
    hyps = [normalise(demo.transcribe(c.path).text) for c in CLIPS]
    assert result.wer == pytest.approx(jiwer.wer(refs, hyps))
    assert result.cer == pytest.approx(jiwer.cer(refs, hyps))
    by_file = {Path(f.audio).name: f for f in result.files}
    for clip, ref, hyp in zip(CLIPS, refs, hyps, strict=True):
        assert by_file[clip.file].wer == pytest.approx(jiwer.wer(ref, hyp))
    assert [f.wer for f in result.files] == sorted((f.wer for f in result.files), reverse=True)
    assert result.real_time > 1


def test_negative_control_a_wrong_reference_scores_worse(demo: Transcriber) -> None:
    right = evaluate(demo, [Item(c.path, c.transcript) for c in CLIPS])
    swapped = [Item(c.path, CLIPS[(i + 1) % len(CLIPS)].transcript) for i, c in enumerate(CLIPS)]
    assert evaluate(demo, swapped).wer > right.wer + 0.1


def test_a_broken_file_is_reported_and_the_rest_go_on(demo: Transcriber, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    items = [Item(broken, "HELLO"), *(Item(c.path, c.transcript) for c in CLIPS[:2])]
    result = evaluate(demo, items)
    assert (
        result.failed == 1 and result.files[-1].error and "not a readable" in result.files[-1].error
    )
    alone = evaluate(demo, items[1:])
    assert result.wer == pytest.approx(alone.wer)  # the failed file is not in the totals


def test_cli_models_side_by_side(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    for clip in CLIPS[:2]:
        shutil.copy(clip.path, folder / clip.file)
        (folder / clip.file).with_suffix(".txt").write_text(clip.transcript)
    report = tmp_path / "report.json"
    args = ["eval", str(folder), "-m", BUNDLED_MODEL, "-m", str(tiny_dir), "--lm", "none"]
    assert main([*args, "--json", str(report), "--markdown", str(tmp_path / "r.md")]) == 0
    table = capsys.readouterr().out
    rows = [line.split(" | ")[0] for line in table.splitlines()[2:4]]
    assert rows == [f"| {BUNDLED_MODEL}", f"| {Transcriber(str(tiny_dir)).model.name}"]
    data = json.loads(report.read_text())
    assert [len(r["files"]) for r in data] == [2, 2] and data[0]["wer"] < data[1]["wer"]
    assert (tmp_path / "r.md").read_text() == table


def test_substitutions_are_word_pairs_as_aligned() -> None:
    """A run of substituted words is counted word by word, not as one phrase pair."""
    from wav2text.evaluate import FileScore, _summary

    def score(reference: str, hypothesis: str) -> FileScore:
        return FileScore("a.wav", reference, hypothesis, 0, 0, 0, 0, 0, 1, 1.0, 1.0)

    scores = [score("THE HARBOR LIGHTS WENT AWAY", "THE HAVE LIGHT WENT AWAY"),
              score("HARBOR LIGHTS", "HAVE LIGHT")]  # fmt: skip
    result = _summary("m", scores, Normalisation(), jiwer)
    assert set(result.confusions) == {("HARBOR", "HAVE", 2), ("LIGHTS", "LIGHT", 2)}
    runs = jiwer.collect_error_counts(jiwer.process_words(["A B"], ["C D"]))[0]
    assert ("A B", "C D") in runs  # the control: jiwer's own counts join the run


def test_every_failed_file_is_listed_with_its_reason(demo: Transcriber, tmp_path: Path) -> None:
    broken = [tmp_path / f"broken{i}.wav" for i in range(3)]
    for path in broken:
        path.write_text("not audio")
    items = [*(Item(p, "HELLO") for p in broken), *(Item(c.path, c.transcript) for c in CLIPS[:2])]
    report = markdown([evaluate(demo, items)], worst=1)  # failures past the worst rows too
    listed = [line for line in report.splitlines() if line.startswith("- broken")]
    assert len(listed) == 3 and all("not a readable" in line for line in listed)
    assert "Failed (3, not scored):" in report
