"""Many inputs, one model: each failure is reported and the rest carry on."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from .errors import Fix, OptionsError, about, reason
from .options import TranscribeOptions
from .results import Transcript
from .writers import CueLayout, output_paths, stale_parts, write_outputs, writer

if TYPE_CHECKING:
    from .model import CTCModel
    from .pipeline import Transcriber

STDIN = "-"

# What a directory's audio and video files end with, where wav2text looks for them
# (batches over a folder, eval's NAME.<audio> + NAME.txt folders).
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aiff",
                  ".aif", ".webm", ".mp4", ".mkv", ".mov", ".avi", ".w64", ".wma", ".amr",
                  ".caf", ".raw", ".pcm"}  # fmt: skip


@dataclass(frozen=True)
class Failure:
    input: str
    reason: str


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) during a batch: how far it got."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(
            f"interrupted: {done} done, {total - done} left; run again with --skip-existing "
            "to carry on"
        )
        self.done, self.total = done, total


def check_output_dir(out_dir: Path) -> None:
    """OptionsError unless outputs can be written in out_dir (made if missing)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionsError(f"-o {out_dir}: is a file, not a directory; name a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out_dir).close()
    except OSError as err:
        raise OptionsError(
            f"-o {out_dir}: outputs cannot be written there ({err.strerror}); "
            "pick a directory you can write to"
        ) from err


Stems = Mapping[str, str]  # input -> where its outputs go, below the output directory


def output_stem(name: str, stems: Stems | None = None) -> str:
    """NAME for NAME.<format>: the input's own stem, or (for files found in a directory)
    its path below that directory, so the outputs mirror the input tree."""
    if stems and name in stems:
        return stems[name]
    return "stdin" if name == STDIN else Path(name).stem


def expand_inputs(
    names: Sequence[str], pattern: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """Files, directories (searched below for audio and video by suffix, or `pattern`) and
    list files (`@list.txt`: one input a line, # comments) as files, with the output stems
    of the files found in directories (their paths below the directory given)."""
    found: list[str] = []
    stems: dict[str, str] = {}
    for name in names:
        if name.startswith("@") and name != "@":
            listed = _listed(Path(name[1:]))
            more, more_stems = expand_inputs(listed, pattern)
            found += more
            stems.update(more_stems)
        elif name != STDIN and Path(name).is_dir():
            root, before = Path(name), len(found)
            for path in sorted(root.rglob(pattern or "*")):
                if path.is_file() and (pattern or path.suffix.lower() in AUDIO_SUFFIXES):
                    found.append(str(path))
                    stems[str(path)] = str(path.relative_to(root).with_suffix(""))
            if len(found) == before:
                raise _nothing_found(name, pattern)
        else:
            found.append(name)
    return found, stems


def _nothing_found(directory: str, pattern: str | None) -> OptionsError:
    if pattern is None:
        return OptionsError(f"{directory}: a directory with no audio or video file in it")
    return OptionsError(
        f"{directory}: no file below it matches {pattern!r}",
        Fix(
            "check the pattern (expand_inputs' pattern=, a glob such as '*.flac')",
            "check --glob (a pattern such as '*.flac', quoted so the shell keeps it)",
            "check the pattern",
        ),
    )


def _listed(path: Path) -> list[str]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise OptionsError(f"@{path}: cannot read the list of inputs ({err})") from err
    base = path.parent
    return [
        str(base / line.strip()) if not Path(line.strip()).is_absolute() else line.strip()
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]


def planned_outputs(
    inputs: Sequence[str], out_dir: Path, formats: Sequence[str], stems: Stems | None = None
) -> dict[str, list[Path]]:
    """The files each input will write; OptionsError if two inputs would write the same."""
    owners: dict[str, str] = {}
    for name in inputs:
        stem = output_stem(name, stems)
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
    stems: Stems | None = None,
    layout: CueLayout | None = None,
    workers: int = 1,
) -> list[Failure]:
    """Transcribe each input (in `workers` processes); write to out_dir (atomically) or to
    stdout."""
    if out_dir is not None and skip_existing:
        inputs = inputs_to_do(inputs, out_dir, formats, report, stems)
    sink = Sink(formats, out_dir, stdout or sys.stdout, len(inputs), stems, layout)
    workers = workers if STDIN not in inputs else 1  # standard input is this process's
    outcomes = transcriber.transcribe_many(
        (_open(name) for name in inputs), options, workers=min(workers, max(len(inputs), 1))
    )
    try:
        for name, outcome in settled(inputs, outcomes):
            sink.take(name, outcome)
    except KeyboardInterrupt:
        sink.bar.close()
        raise Interrupted(sink.done, sink.total) from None
    return sink.close(report)


# A spawned worker loads the model (seconds of one core): only a batch this large repays it.
# On 2 cores (benchmarks/bench_batch.py) a second spawned process gave 0.93x on 4 MB of WAV,
# 1.31x on 15 MB and 1.67x on 77 MB. A forked one starts in milliseconds: any batch of two
# files or more, with this process beside one worker per core (it takes an input only when
# every worker has QUEUED_PER_WORKER waiting): 40 files of 15 s on 2 cores, 1.89x one
# process against 1.83x for one worker beside it.
AUTO_MIN_FILES = 4
AUTO_MIN_BYTES = 10_000_000
CORES_PER_PROCESS = 1


def batch_workers(inputs: Sequence[str], model: CTCModel) -> int:
    """How many processes the CLI runs a batch in by default (this one included): forked,
    this one and one per CORES_PER_PROCESS cores; spawned, one per CORES_PER_PROCESS cores
    when the batch is large enough to repay their start. As memory allows; else one."""
    from .cores import suggested_workers, usable_cores
    from .parallel import start_method

    paths = [Path(name) for name in inputs if name != STDIN]
    per_cores = max(1, usable_cores() // CORES_PER_PROCESS)
    if model.device.type != "cpu":
        return 1  # one GPU: passes queue on it anyway
    if start_method(model.runtime) == "fork":
        return min(suggested_workers(model) + 1, per_cores + 1, len(paths))
    if len(paths) < AUTO_MIN_FILES:
        return 1
    if sum(path.stat().st_size for path in paths if path.is_file()) < AUTO_MIN_BYTES:
        return 1
    return min(suggested_workers(model), per_cores, len(paths))


def settled(
    names: Sequence[str], outcomes: Iterable[Transcript | Exception]
) -> Iterator[tuple[str, Transcript | Failure]]:
    """Each input with its transcript, or its exception as a Failure, in input order."""
    for name, outcome in zip(names, outcomes, strict=True):
        # an unexpected exception is a bug on one input's path: reported, the rest go on
        if isinstance(outcome, Transcript):
            yield name, outcome
        else:
            yield name, Failure(name, reason(outcome, "cli"))


def inputs_to_do(
    inputs: Sequence[str],
    out_dir: Path,
    formats: Sequence[str],
    report: Callable[[str], None],
    stems: Stems | None = None,
) -> list[str]:
    """Inputs without all their outputs in out_dir.

    Outputs appear only whole (renamed into place), so a rerun after a crash or Ctrl-C
    carries on where the last one stopped.
    """
    outputs = planned_outputs(inputs, out_dir, formats, stems)
    for stale in (part for paths in outputs.values() for p in paths for part in stale_parts(p)):
        stale.unlink(missing_ok=True)  # an earlier run killed mid-write: never an output
    todo = [n for n in inputs if n == STDIN or not all(p.exists() for p in outputs[n])]
    if len(todo) < len(inputs):
        report(f"wav2text: skipping {len(inputs) - len(todo)} inputs already transcribed")
    return todo


class Sink:
    """Where outcomes go, in whatever order they come: outputs, warnings, failures, progress."""

    def __init__(
        self,
        formats: Sequence[str],
        out_dir: Path | None,
        stdout: TextIO,
        total: int,
        stems: Stems | None = None,
        layout: CueLayout | None = None,
    ) -> None:
        self.formats, self.out_dir, self.stdout, self.stems = formats, out_dir, stdout, stems
        self.layout = layout
        self.total = total
        self.failures: list[Failure] = []
        self.done = 0
        self.bar = tqdm(total=total, unit="file", disable=total < 2, file=sys.stderr)

    def take(self, name: str, outcome: Transcript | Failure) -> None:
        self.bar.update()
        if isinstance(outcome, Failure):
            self.failures.append(outcome)
            self.bar.write(f"wav2text: {about(name, outcome.reason)}", file=sys.stderr)
            return
        for warning in outcome.warnings:
            self.bar.write(f"wav2text: {name}: warning: {warning}", file=sys.stderr)
        try:
            emit(outcome, name, self.formats, self.out_dir, self.stdout, self.stems, self.layout)
        except OSError as err:  # a full disk, a lost permission: this input's, said once
            where = self.out_dir or "standard output"
            said = f"its outputs could not be written to {where} ({err.strerror or err})"
            self.take(name, Failure(name, said))
            return
        self.done += 1

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
    stems: Stems | None = None,
    layout: CueLayout | None = None,
) -> None:
    """One input's transcript into out_dir as NAME.<format> (atomically), or to stdout."""
    if out_dir is not None:
        write_outputs(transcript, out_dir, output_stem(name, stems), formats, layout)
        return
    for fmt in formats:
        writer(fmt, layout).write(transcript, stdout)
    stdout.flush()
