"""Render a split of the synthetic corpus: `python -m training.corpus DIR --split train -n 12000`.

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

from .text import fortune_sentences, is_held_out, normalise
from .voices import random_voice, render

SPLITS = {  # split: (held-out sentences?, held-out voice?)
    "train": (False, False),
    "test-seen-voices": (True, False),
    "test-held-out-voice": (True, True),
}


def utterance(
    split: str, seed: int, index: int, sentences: list[str]
) -> tuple[np.ndarray, str, str]:
    rng = random.Random(f"{split}/{seed}/{index}")
    voice = random_voice(rng, held_out=SPLITS[split][1])
    sentence = rng.choice(sentences)
    for _ in range(5):  # festival crashes on a few sentences: another voice says it
        try:
            return render(voice, sentence), voice.label, normalise(sentence)
        except subprocess.CalledProcessError:
            voice = random_voice(rng, held_out=SPLITS[split][1])
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


def _end_offset(index_path: Path) -> int:
    last = index_path.read_text().splitlines()[-1].split("\t")
    return int(last[0]) + int(last[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("-n", "--utterances", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    build(args.directory, args.split, args.utterances, args.seed, args.workers)


if __name__ == "__main__":
    main()
