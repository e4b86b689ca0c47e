"""Render a split of the synthetic corpus: `python -m training.corpus DIR --split train -n 12000`
(`--split test-room`: test-seen-voices replayed in simulated rooms, made after it).

Each utterance i of a split is fully determined by (split, seed, i), so a run that was
stopped resumes where it ended and reproduces the same corpus. Output: DIR/SPLIT.pcm
(int16 16 kHz mono, utterances back to back) and DIR/SPLIT.tsv (offset, length, voice, text).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import subprocess
from pathlib import Path

import numpy as np

from . import acoustics
from .augment import add_noise
from .text import fortune_sentences, is_held_out, normalise
from .train import Corpus
from .voices import random_voice, render

ROOM_SNR_DB = 10.0
ROOM_SPLITS = {"test-room": "test-seen-voices"}  # a split replayed in rooms it never heard
SPLITS = {  # split: (held-out sentences?, held-out voice?, voice family)
    "train": (False, False, "classic"),
    "test-seen-voices": (True, False, "classic"),
    "test-held-out-voice": (True, True, "classic"),
    "train-kokoro": (False, False, "kokoro"),
    "test-kokoro": (True, True, "kokoro"),
}


def utterance(
    split: str, seed: int, index: int, sentences: list[str]
) -> tuple[np.ndarray, str, str]:
    rng = random.Random(f"{split}/{seed}/{index}")
    _, held_out, family = SPLITS[split]
    voice = random_voice(rng, held_out, family)
    sentence = rng.choice(sentences)
    for _ in range(5):  # festival crashes on a few sentences: another voice says it
        try:
            return render(voice, sentence), voice.label, normalise(sentence)
        except subprocess.CalledProcessError:
            voice = random_voice(rng, held_out, family)
    raise RuntimeError(f"no voice could say {sentence!r}")


def _job(args: tuple[str, int, int]) -> tuple[np.ndarray, str, str]:
    split, seed, index = args
    return utterance(split, seed, index, _SENTENCES[SPLITS[split][0]])


_SENTENCES: dict[bool, list[str]] = {}


def _init() -> None:
    sentences = fortune_sentences()
    _SENTENCES[True] = [s for s in sentences if is_held_out(s)]
    _SENTENCES[False] = [s for s in sentences if not is_held_out(s)]


def build(directory: Path, split: str, count: int, seed: int, workers: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    index_path, pcm_path = directory / f"{split}.tsv", directory / f"{split}.pcm"
    done = len(index_path.read_text().splitlines()) if index_path.exists() else 0
    offset = done and _end_offset(index_path)
    with (
        open(pcm_path, "r+b" if pcm_path.exists() else "wb") as pcm,
        open(index_path, "a") as index,
    ):
        pcm.truncate(offset * 2)  # drop audio written after the last indexed utterance
        pcm.seek(offset * 2)
        with multiprocessing.Pool(workers, initializer=_init) as pool:
            jobs = ((split, seed, i) for i in range(done, count))
            for n, (samples, voice, text) in enumerate(pool.imap(_job, jobs, chunksize=8), done):
                pcm.write(samples.tobytes())
                pcm.flush()
                index.write(f"{offset}\t{len(samples)}\t{voice}\t{text}\n")
                index.flush()
                offset += len(samples)
                if n % 500 == 0:
                    print(f"{split}: {n}/{count}", flush=True)


def build_room_split(directory: Path, split: str, count: int, seed: int) -> None:
    """The source split's first `count` utterances as heard in simulated rooms (from a room
    bank training never draws from), through a coloured microphone, with noise at
    ROOM_SNR_DB."""
    source = Corpus(directory, ROOM_SPLITS[split])
    pcm_path, index_path = directory / f"{split}.pcm", directory / f"{split}.tsv"
    with open(pcm_path, "wb") as pcm, open(index_path, "w") as index:
        offset = 0
        for i in range(min(count, len(source.texts))):
            rng = np.random.default_rng([seed, i])
            audio = acoustics.reverberate(source.samples(i), rng, bank_seed=1)
            audio = add_noise(acoustics.microphone(audio, rng), rng, ROOM_SNR_DB)
            audio *= 10 ** (rng.uniform(-20, -3) / 20) / (np.abs(audio).max() + 1e-9)
            samples = np.clip(audio * 32767, -32768, 32767).astype(np.int16)
            pcm.write(samples.tobytes())
            index.write(f"{offset}\t{len(samples)}\troom:{i}\t{source.texts[i]}\n")
            offset += len(samples)


def _end_offset(index_path: Path) -> int:
    last = index_path.read_text().splitlines()[-1].split("\t")
    return int(last[0]) + int(last[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--split", choices=[*SPLITS, *ROOM_SPLITS], default="train")
    parser.add_argument("-n", "--utterances", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.split in ROOM_SPLITS:
        build_room_split(args.directory, args.split, args.utterances, args.seed)
    else:
        build(args.directory, args.split, args.utterances, args.seed, args.workers)


if __name__ == "__main__":
    main()
