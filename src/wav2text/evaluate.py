"""Evaluate models on your own recordings: WER and CER (jiwer), speed, where they fail.

A manifest names audio files and their reference transcripts: a TSV or CSV file with a
header (audio in a column `audio`, `path` or `file`; the reference in `text`,
`transcript`, `reference` or `sentence`; optional `sample_rate` and `raw` columns for
headerless PCM), a JSONL file with the same keys, or a folder of NAME.<audio> + NAME.txt.
Relative paths are read from the manifest's folder.

Both sides are normalised the same documented way before scoring (`Normalisation`): NFKC,
upper case, punctuation dropped but apostrophes inside words kept, whitespace collapsed.
Needs jiwer: `pip install 'wav2text[eval]'`.
"""

from __future__ import annotations

import csv
import json
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch import AUDIO_SUFFIXES
from .errors import OptionsError, reason
from .options import RawFormat, TranscribeOptions
from .rate import parse_rate

if TYPE_CHECKING:
    from .pipeline import Transcriber

AUDIO_KEYS = ("audio", "path", "file")
TEXT_KEYS = ("text", "transcript", "reference", "sentence")
TOP_CONFUSIONS = 10


@dataclass(frozen=True)
class Normalisation:
    """How references and hypotheses are made comparable before scoring."""

    case: bool = False  # keep case (default: upper case both)
    punctuation: bool = False  # keep punctuation (default: drop it, keep inner apostrophes)

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        if not self.case:
            text = text.upper()
        if not self.punctuation:
            text = "".join(c if not _is_punctuation(c) or c == "'" else " " for c in text)
            text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
        return " ".join(text.split())


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith(("P", "S"))


@dataclass(frozen=True)
class Item:
    audio: Path
    reference: str
    options: TranscribeOptions = field(default_factory=TranscribeOptions)


@dataclass(frozen=True)
class FileScore:
    audio: str
    reference: str
    hypothesis: str
    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    words: int
    duration_s: float
    seconds: float  # wall time to transcribe it
    error: str | None = None  # why it could not be transcribed


@dataclass(frozen=True)
class ModelScore:
    model: str
    wer: float  # over all words of all files transcribed
    cer: float
    real_time: float  # audio seconds per wall second
    files: tuple[FileScore, ...]  # worst first; failed files last
    confusions: tuple[tuple[str, str, int], ...]  # (reference word, hypothesis, count)
    deletions: tuple[tuple[str, int], ...]
    insertions: tuple[tuple[str, int], ...]

    @property
    def failed(self) -> int:
        return sum(f.error is not None for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}


def read_manifest(path: Path) -> list[Item]:
    """The items a manifest file (TSV, CSV, JSONL) or folder (NAME.wav + NAME.txt) lists."""
    if path.is_dir():
        return _folder(path)
    if not path.is_file():
        raise OptionsError(f"{path}: no such manifest file or folder")
    if path.suffix == ".jsonl":
        lines = path.read_text("utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    else:
        with path.open(encoding="utf-8", newline="") as file:
            delimiter = "," if path.suffix == ".csv" else "\t"
            rows = list(csv.DictReader(file, delimiter=delimiter))
    if not rows:
        raise OptionsError(f"{path}: the manifest lists no files")
    return [_item(row, path.parent, path, n) for n, row in enumerate(rows, start=2)]


def _item(row: dict[str, Any], base: Path, manifest: Path, line: int) -> Item:
    audio = next((row[k] for k in AUDIO_KEYS if row.get(k)), None)
    text = next((row[k] for k in TEXT_KEYS if row.get(k) is not None), None)
    if audio is None or text is None:
        raise OptionsError(
            f"{manifest}:{line}: a row needs an audio column ({', '.join(AUDIO_KEYS)}) and a "
            f"reference column ({', '.join(TEXT_KEYS)}); found {', '.join(row)}"
        )
    options = TranscribeOptions()
    if row.get("raw"):
        options = replace(options, raw=RawFormat(str(row["raw"])))
    if row.get("sample_rate"):
        options = replace(options, sample_rate=parse_rate(str(row["sample_rate"])))
    return Item(base / str(audio), str(text), options)


def _folder(folder: Path) -> list[Item]:
    items = [
        Item(audio, audio.with_suffix(".txt").read_text("utf-8").strip())
        for audio in sorted(folder.iterdir())
        if audio.suffix.lower() in AUDIO_SUFFIXES and audio.with_suffix(".txt").is_file()
    ]
    if not items:
        raise OptionsError(f"{folder}: no NAME.<audio> file with a NAME.txt beside it")
    return items


def evaluate(
    transcriber: Transcriber,
    items: Sequence[Item],
    options: TranscribeOptions | None = None,
    normalise: Normalisation = Normalisation(),
    progress: Callable[[FileScore], None] = lambda _score: None,
) -> ModelScore:
    """Transcribe every item with one model and score it; a file that fails is reported
    in its row and left out of the totals, and the rest go on."""
    import jiwer

    base = options or TranscribeOptions()
    scores = []
    for item in items:
        score = _score_one(transcriber, item, _merged(base, item.options), normalise, jiwer)
        progress(score)
        scores.append(score)
    return _summary(transcriber.model.name, scores, normalise, jiwer)


def _merged(base: TranscribeOptions, item: TranscribeOptions) -> TranscribeOptions:
    return replace(base, raw=item.raw or base.raw, sample_rate=item.sample_rate or base.sample_rate)


def _score_one(
    transcriber: Transcriber,
    item: Item,
    options: TranscribeOptions,
    normalise: Normalisation,
    jiwer: Any,
) -> FileScore:
    reference = normalise(item.reference)
    started = time.perf_counter()
    try:
        transcript = transcriber.transcribe(item.audio, options)
    except Exception as err:  # this file's row says why; the others go on
        return FileScore(str(item.audio), reference, "", 1.0, 1.0, 0, 0, 0, 0, 0.0, 0.0,
                         reason(err, "report"))  # fmt: skip
    seconds = time.perf_counter() - started
    hypothesis = normalise(transcript.text)
    words = jiwer.process_words(reference or " ", hypothesis or " ")
    cer = jiwer.process_characters(reference or " ", hypothesis or " ").cer
    return FileScore(
        str(item.audio), reference, hypothesis, words.wer, cer, words.substitutions,
        words.deletions, words.insertions, len(reference.split()), transcript.duration, seconds,
    )  # fmt: skip


def _summary(
    model: str, scores: list[FileScore], normalise: Normalisation, jiwer: Any
) -> ModelScore:
    done = [s for s in scores if s.error is None]
    refs = [s.reference or " " for s in done]
    hyps = [s.hypothesis or " " for s in done]
    words = jiwer.process_words(refs, hyps) if done else None
    cer = jiwer.process_characters(refs, hyps).cer if done else 1.0
    _, ins, dels = jiwer.collect_error_counts(words) if words else ({}, {}, {})
    subs = _substituted_words(words) if words else Counter()
    elapsed = sum(s.seconds for s in done)
    ranked = sorted(done, key=lambda s: (-s.wer, -s.cer)) + [s for s in scores if s.error]
    return ModelScore(
        model=model,
        wer=words.wer if words else 1.0,
        cer=cer,
        real_time=sum(s.duration_s for s in done) / elapsed if elapsed else 0.0,
        files=tuple(ranked),
        confusions=tuple((r, h, n) for (r, h), n in _top(subs)),
        deletions=tuple(_top(dels)),
        insertions=tuple(_top(ins)),
    )


def _substituted_words(words: Any) -> Counter[tuple[str, str]]:
    """Each substituted word with the word heard in its place, as jiwer aligned them (its
    own counts join a run of substitutions into one phrase pair)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for reference, hypothesis, chunks in zip(
        words.references, words.hypotheses, words.alignments, strict=True
    ):
        for chunk in chunks:
            if chunk.type == "substitute":
                said = reference[chunk.ref_start_idx : chunk.ref_end_idx]
                heard = hypothesis[chunk.hyp_start_idx : chunk.hyp_end_idx]
                pairs.update(zip(said, heard, strict=True))
    return pairs


def _top(counts: dict[Any, int]) -> list[tuple[Any, int]]:
    return Counter(counts).most_common(TOP_CONFUSIONS)


def markdown(results: Iterable[ModelScore], worst: int = 10) -> str:
    """The report: the models side by side, then each model's worst files and confusions."""
    results = list(results)
    lines = ["| model | WER | CER | x real time | files | failed |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.model} | {r.wer:.3f} | {r.cer:.3f} | {r.real_time:.1f} | {len(r.files)} | "
        f"{r.failed} |"
        for r in results
    ]
    for r in results:
        lines += ["", f"### {r.model}: worst files", "",
                  "| file | WER | CER | S | D | I | words | reference | hypothesis |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for s in [f for f in r.files if f.error is None][:worst]:
            lines.append(
                f"| {Path(s.audio).name} | {s.wer:.3f} | {s.cer:.3f} | {s.substitutions} | "
                f"{s.deletions} | {s.insertions} | {s.words} | {s.reference} | {s.hypothesis} |"
            )
        confusions = ", ".join(f"{ref} → {hyp} ({n})" for ref, hyp, n in r.confusions)
        lines += ["", f"Most frequent substitutions: {confusions or 'none'}"]
        failed = [f"- {Path(s.audio).name}: {s.error}" for s in r.files if s.error]
        lines += ["", f"Failed ({len(failed)}, not scored):", *failed] if failed else []
    return "\n".join(lines) + "\n"
