"""Many inputs, one model: each failure is reported and the rest carry on."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from .errors import OptionsError, about, reason
from .options import TranscribeOptions
from .results import Transcript
from .writers import WRITERS, output_paths, write_outputs

if TYPE_CHECKING:
    from .pipeline import Transcriber

STDIN = "-"


@dataclass(frozen=True)
class Failure:
    input: str
    reason: str


def output_stem(name: str) -> str:
    return "stdin" if name == STDIN else Path(name).stem


def planned_outputs(
    inputs: Sequence[str], out_dir: Path, formats: Sequence[str]
) -> dict[str, list[Path]]:
    """The files each input will write; OptionsError if two inputs would write the same."""
    owners: dict[str, str] = {}
    for name in inputs:
        stem = output_stem(name)
        if stem in owners:
            first = owners[stem]
            clash = f"{name} is listed twice" if first == name else f"{first} and {name}"
            raise OptionsError(
                f"{clash}: both would be written to {out_dir / stem}.*; rename one or "
                "transcribe them into different output directories (nothing was written)"
            )
        owners[stem] = name
    return {name: output_paths(out_dir, stem, formats) for stem, name in owners.items()}


def run_batch(
    transcriber: Transcriber,
    inputs: Sequence[str],
    options: TranscribeOptions,
    formats: Sequence[str],
    out_dir: Path | None,
    stdout: TextIO | None = None,  # None: sys.stdout as it is at the call
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    skip_existing: bool = False,
) -> list[Failure]:
    """Transcribe each input; write to out_dir (atomically) or to stdout."""
    if out_dir is not None and skip_existing:
        inputs = inputs_to_do(inputs, out_dir, formats, report)
    sink = Sink(formats, out_dir, stdout or sys.stdout, len(inputs))
    outcomes = transcriber.transcribe_many((_open(name) for name in inputs), options)
    for name, outcome in settled(inputs, outcomes):
        sink.take(name, outcome)
    return sink.close(report)


def settled(
    names: Sequence[str], outcomes: Iterable[Transcript | Exception]
) -> Iterator[tuple[str, Transcript | Failure]]:
    """Each input with its transcript, or its exception as a Failure, in input order."""
    for name, outcome in zip(names, outcomes, strict=True):
        # an unexpected exception is a bug on one input's path: reported, the rest go on
        yield name, outcome if isinstance(outcome, Transcript) else Failure(name, reason(outcome))


def inputs_to_do(
    inputs: Sequence[str],
    out_dir: Path,
    formats: Sequence[str],
    report: Callable[[str], None],
) -> list[str]:
    """Inputs without all their outputs in out_dir.

    Outputs appear only whole (renamed into place), so a rerun after a crash or Ctrl-C
    carries on where the last one stopped.
    """
    outputs = planned_outputs(inputs, out_dir, formats)
    todo = [n for n in inputs if n == STDIN or not all(p.exists() for p in outputs[n])]
    if len(todo) < len(inputs):
        report(f"wav2text: skipping {len(inputs) - len(todo)} inputs already transcribed")
    return todo


class Sink:
    """Where outcomes go, in whatever order they come: outputs, warnings, failures, progress."""

    def __init__(
        self, formats: Sequence[str], out_dir: Path | None, stdout: TextIO, total: int
    ) -> None:
        self.formats, self.out_dir, self.stdout = formats, out_dir, stdout
        self.total = total
        self.failures: list[Failure] = []
        self.bar = tqdm(total=total, unit="file", disable=total < 2, file=sys.stderr)

    def take(self, name: str, outcome: Transcript | Failure) -> None:
        self.bar.update()
        if isinstance(outcome, Failure):
            self.failures.append(outcome)
            self.bar.write(f"wav2text: {about(name, outcome.reason)}", file=sys.stderr)
            return
        for warning in outcome.warnings:
            self.bar.write(f"wav2text: {name}: warning: {warning}", file=sys.stderr)
        emit(outcome, name, self.formats, self.out_dir, self.stdout)

    def close(self, report: Callable[[str], None]) -> list[Failure]:
        self.bar.close()
        if self.failures and self.total > 1:
            report(f"wav2text: {len(self.failures)} of {self.total} inputs failed")
        return self.failures


def _open(name: str) -> object:
    return sys.stdin.buffer if name == STDIN else name


def emit(
    transcript: Transcript,
    name: str,
    formats: Sequence[str],
    out_dir: Path | None,
    stdout: TextIO,
) -> None:
    """One input's transcript into out_dir as NAME.<format> (atomically), or to stdout."""
    if out_dir is not None:
        write_outputs(transcript, out_dir, output_stem(name), formats)
        return
    for fmt in formats:
        WRITERS[fmt].write(transcript, stdout)
    stdout.flush()
