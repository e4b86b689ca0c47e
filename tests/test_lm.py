"""Beam search with a word n-gram language model (wav2text.lm)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tiny_models import VOCAB
from wav2text import LanguageModelWarning, ModelLoadError, ModelOptions, OptionsError, Transcriber
from wav2text.cli import main
from wav2text.ctc import Vocabulary, best_path, merge_tokens, words_from_spans
from wav2text.lm import BeamSearch, read_language_model, spell_words

VOCABULARY = Vocabulary(tokens=tuple(VOCAB), blank=0, delimiter=4)
TOKEN = {t: i for i, t in enumerate(VOCAB)}

# "the cat" is a bigram the LM has seen; "the hat" it only gets by backing off. Its words
# are in lower case, like many hub LMs', and the model spells in upper case.
ARPA = """
\\data\\
ngram 1=6
ngram 2=2

\\1-grams:
-1.0\t<s>\t-0.5
-1.0\t</s>
-99\t<unk>
-1.0\tthe\t-0.5
-2.0\tcat\t-0.5
-1.0\that\t-0.5

\\2-grams:
-0.1\t<s> the
-0.1\tthe cat

\\end\\
"""


@pytest.fixture
def lm_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "language_model"
    folder.mkdir()
    (folder / "lm.arpa").write_text(ARPA.lstrip())
    (folder / "unigrams.txt").write_text("the\ncat\nhat\n")
    (folder / "attrs.json").write_text('{"alpha": 0.5, "beta": 1.0}')
    return folder


def frames(spoken: list[str | dict[str, float]]) -> np.ndarray:
    """Log-probs with one frame per entry: a token at 0.9 (the rest shared), or a mixture;
    a blank frame between letters, as a CTC model emits them."""
    rows = []
    for entry in spoken:
        mix = entry if isinstance(entry, dict) else {entry: 0.9}
        row = np.full(len(VOCAB), (1 - sum(mix.values())) / (len(VOCAB) - len(mix)))
        for token, p in mix.items():
            row[TOKEN[token]] = p
        rows += [row, np.eye(len(VOCAB))[0] * 0.9 + 0.1 / len(VOCAB)]
    return np.log(np.array(rows, dtype=np.float32))


# "THE ?AT": the first letter of the second word sounds a little more like H than C.
THE_HAT_OR_CAT = frames(["T", "H", "E", "|", {"H": 0.5, "C": 0.45}, "A", "T", "|"])


def text(path: tuple[np.ndarray, np.ndarray]) -> str:
    ids, probs = path
    words = words_from_spans(merge_tokens(ids, probs, 0), VOCABULARY, 0.02)
    return " ".join(w.text for w in words)


def test_the_language_model_decides_what_the_acoustics_leave_open(lm_folder: Path) -> None:
    files = read_language_model(lm_folder)
    assert text(best_path(THE_HAT_OR_CAT)) == "THE HAT"
    assert text(BeamSearch(files, VOCABULARY)(THE_HAT_OR_CAT)) == "THE CAT"
    # negative control: without the LM's weight the acoustics decide, as greedy did
    assert text(BeamSearch(files, VOCABULARY, alpha=0.0)(THE_HAT_OR_CAT)) == "THE HAT"


def test_a_clear_path_keeps_its_frames_timestamps_and_confidences(lm_folder: Path) -> None:
    """One token per input frame, aligned with it: words start and end on the same frames
    as greedy decoding's, with the same per-frame probabilities."""
    clear = frames(["T", "H", "E", "|", "C", "A", "T"])
    beam = BeamSearch(read_language_model(lm_folder), VOCABULARY)(clear)
    greedy = best_path(clear)
    assert len(beam[0]) == len(clear)
    ours, theirs = (words_from_spans(merge_tokens(*p, 0), VOCABULARY, 0.02) for p in (beam, greedy))
    assert ours == theirs and [w.text for w in ours] == ["THE", "CAT"]


def test_words_outside_the_vocabulary_cannot_be_spelled() -> None:
    spelled = spell_words(("cat", "CAT", "café", "don't"), VOCABULARY)
    assert spelled["cat"] == [TOKEN["C"], TOKEN["A"], TOKEN["T"], TOKEN["|"]]
    assert "café" not in spelled and "don't" in spelled


def test_an_arpa_file_alone_is_a_language_model(lm_folder: Path) -> None:
    files = read_language_model(lm_folder / "lm.arpa")
    assert files.words == ("the", "cat", "hat")
    assert text(BeamSearch(files, VOCABULARY)(THE_HAT_OR_CAT)) == "THE CAT"


def test_attrs_json_sets_the_weights(lm_folder: Path) -> None:
    files = read_language_model(lm_folder)
    assert (files.alpha, files.beta) == (0.5, 1.0)
    (lm_folder / "attrs.json").unlink()
    defaults = read_language_model(lm_folder)
    assert (defaults.alpha, defaults.beta) == (0.5, 1.5)  # pyctcdecode's, as hub folders expect


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda f: shutil.rmtree(f), "does not exist"),
        (lambda f: (f / "lm.arpa").unlink(), "one KenLM model .* found nothing"),
        (lambda f: shutil.copy(f / "lm.arpa", f / "other.arpa"), "found lm.arpa, other.arpa"),
        (lambda f: (f / "lm.arpa").write_text("not an LM\n"), "no 1-grams"),
        (lambda f: (f / "lm.arpa").rename(f / "lm.bin"), "lm.bin, not an ARPA file"),
    ],
)
def test_a_broken_language_model_folder_says_what_is_wrong(lm_folder, setup, message) -> None:
    (lm_folder / "unigrams.txt").unlink()
    setup(lm_folder)
    with pytest.raises(ModelLoadError, match=message):
        read_language_model(lm_folder)


def test_a_binary_lm_needs_its_word_list(tmp_path: Path) -> None:
    binary = tmp_path / "lm.bin"
    binary.write_bytes(b"mmap lm")
    with pytest.raises(ModelLoadError, match=r"unigrams\.txt"):
        read_language_model(binary)


def test_an_lm_for_another_alphabet_is_refused(tmp_path: Path) -> None:
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(ARPA.replace("the", "το").replace("cat", "γατα").replace("hat", "καπελο"))
    with pytest.raises(ModelLoadError, match="another alphabet"):
        BeamSearch(read_language_model(arpa), VOCABULARY)


def test_an_lm_kenlm_cannot_load_is_a_clear_error(tmp_path: Path) -> None:
    """A unigram-only ARPA: KenLM's own RuntimeError became a ModelLoadError naming the fix."""
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(
        "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<s>\n-1.0\t</s>\n-0.5\tthe\n-0.6\tcat\n\n"
        "\\end\\\n"
    )
    with pytest.raises(ModelLoadError, match=r"KenLM cannot load .* order 2 or more"):
        BeamSearch(read_language_model(arpa), VOCABULARY)


# --- through the Transcriber: a model directory that ships its LM ---------------------


@pytest.fixture
def model_with_lm(tiny_dir: Path, lm_folder: Path, tmp_path: Path) -> Path:
    model = tmp_path / "model"
    shutil.copytree(tiny_dir, model)
    shutil.copytree(lm_folder, model / "language_model")
    return model


def test_a_model_that_ships_an_lm_decodes_with_it(model_with_lm: Path) -> None:
    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    options = {"sample_rate": 16000, "segmentation": "window"}
    from wav2text import TranscribeOptions

    beam = Transcriber(model_with_lm).transcribe(audio, TranscribeOptions(**options))
    greedy = Transcriber(ModelOptions(model_with_lm, lm=None)).transcribe(
        audio, TranscribeOptions(**options)
    )
    assert beam.decoder.startswith("beam search") and "language_model" in beam.decoder
    assert greedy.decoder == "greedy"
    assert set(beam.text.split()) <= {"THE", "CAT", "HAT"}  # only words the LM knows


def test_cli_lm_none_decodes_greedily(
    model_with_lm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    raw = tmp_path / "a.raw"
    raw.write_bytes((np.random.default_rng(1).normal(0, 3000, 16000)).astype("<i2").tobytes())
    base = ["transcribe", str(raw), "--raw", "s16le", "--sample-rate", "16000", "-f", "json"]
    for lm, expected in (("auto", "beam search"), ("none", "greedy")):
        assert main([*base, "-m", str(model_with_lm), "--lm", lm, "-o", str(tmp_path)]) == 0
        assert json.loads((tmp_path / "a.json").read_text())["decoder"].startswith(expected)
    capsys.readouterr()


def test_without_flashlight_a_shipped_lm_warns_and_an_asked_for_one_fails(
    model_with_lm: Path, lm_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "flashlight.lib.text", None)  # importing it fails
    with pytest.warns(LanguageModelWarning, match="pip install flashlight-text"):
        assert Transcriber(model_with_lm).beam is None
    with pytest.raises(ModelLoadError, match="pip install flashlight-text"):
        Transcriber(ModelOptions(model_with_lm, lm=lm_folder))


def test_lm_options_are_checked() -> None:
    with pytest.raises(OptionsError, match="beam_size"):
        ModelOptions(beam_size=0)
    with pytest.raises(OptionsError, match="lm is None"):
        ModelOptions(lm=None, lm_alpha=0.5)


def test_an_lm_belongs_to_the_language_it_was_spelled_in(lm_folder: Path) -> None:
    search = BeamSearch(read_language_model(lm_folder), VOCABULARY)
    other = Vocabulary(tokens=(*VOCAB[:-1], "É"), blank=0, delimiter=4)
    search.check_vocabulary(VOCABULARY)
    with pytest.raises(OptionsError, match=r"own\s+Transcriber"):
        search.check_vocabulary(other)


def test_a_hub_model_s_lm_folder_is_fetched_with_it(
    lm_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto, for a hub id: the repo's language_model/ folder, from the cache first; a repo
    without one, or a hub that cannot be reached, means greedy decoding."""
    from wav2text.lm import find_language_model

    calls: list[bool] = []

    def snapshot(
        repo: str, revision: str | None, allow_patterns: list[str], local_files_only: bool
    ):
        calls.append(local_files_only)
        assert allow_patterns == ["language_model/*"]
        if repo == "org/offline":
            raise OSError("no connection")
        return str(lm_folder.parent if repo == "org/with-lm" else tmp_path / "empty")

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot)
    assert find_language_model("auto", "org/with-lm", None) == lm_folder
    assert calls == [True]  # found in the cache: the hub is not asked
    assert find_language_model("auto", "org/without", None) is None
    assert find_language_model("auto", "org/offline", None) is None
    assert find_language_model(None, "org/with-lm", None) is None


def test_a_search_ending_inside_a_word_writes_no_half_word(lm_folder: Path) -> None:
    """The best hypothesis may stop partway through a word; those letters are dropped."""
    c_to_the_end = frames(["C"])[:1].repeat(5, axis=0)  # no blank after: the audio stops
    cut_short = np.concatenate([frames(["T", "H", "E", "|", "C", "A", "T", "|"]), c_to_the_end])
    assert text(best_path(cut_short)) == "THE CAT C"  # (what the frames alone say)
    assert text(BeamSearch(read_language_model(lm_folder), VOCABULARY)(cut_short)) == "THE CAT"


def test_stderr_is_left_alone_while_other_threads_run() -> None:
    """KenLM's progress bar is hidden by pointing fd 2 at /dev/null, which is the whole
    process's: only done while no other thread could lose its errors there."""
    import os
    import threading

    from wav2text import lm

    def target() -> tuple[int, int]:
        stat = os.fstat(2)
        return stat.st_dev, stat.st_ino

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with lm._quiet_stderr():
            during_threads = target()
    finally:
        stop.set()
        other.join()
    assert during_threads == target()
    if threading.active_count() == 1:  # the negative control: alone, it is silenced
        with lm._quiet_stderr():
            assert target() != during_threads
