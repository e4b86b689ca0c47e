"""The game's spoken lines as corpus splits, labelled by the teachers where they agree:
`python -m training.game_corpus LABELS_DIR CORPUS_DIR [--agreement 0.9]` writes
CORPUS_DIR/game-train and game-select (.pcm and .tsv, as training.corpus writes splits),
decoded from the Debian package at training time (the audio is never committed).

game-select is whole rooms (`queen.is_select`), never trained on; `training.train` judges
checkpoints on it beside the synthetic test splits. A line is kept when the two teachers'
texts agree at least `--agreement` (1 - CER between them) and Whisper heard words; its label
is Whisper's text, the stronger teacher on the human-transcribed clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .queen import GameLine, fetch_resource, is_select, line_bytes, speech_lines
from .teachers import Label, decode, load_labels

MIN_SECONDS = 0.4  # shorter lines are mostly grunts and one-syllable answers


def kept(labels: list[Label], agreement: float) -> dict[str, Label]:
    return {
        label.name: label
        for label in labels
        if label.agreement >= agreement and label.whisper and label.seconds >= MIN_SECONDS
    }


def write_split(
    directory: Path, split: str, resource: Path, lines: list[GameLine], labels: dict[str, Label]
) -> float:
    """The split's audio and index; its hours."""
    directory.mkdir(parents=True, exist_ok=True)
    offset = 0
    with (
        (directory / f"{split}.pcm").open("wb") as pcm,
        (directory / f"{split}.tsv").open("w") as index,
    ):
        for line in lines:
            audio = decode(line_bytes(resource, line))
            samples = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            pcm.write(samples.tobytes())
            voice = f"queen:{line.speaker}:{line.room}"
            index.write(f"{offset}\t{len(samples)}\t{voice}\t{labels[line.name].whisper}\n")
            offset += len(samples)
    return offset / 16000 / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--agreement", type=float, default=0.9)
    parser.add_argument("--resource-dir", type=Path, default=Path("runs/queen"))
    args = parser.parse_args()
    resource = fetch_resource(args.resource_dir)
    labels = kept(load_labels(args.labels), args.agreement)
    lines = [line for line in speech_lines(resource) if line.name in labels]
    for split, chosen in (("game-train", False), ("game-select", True)):
        part = [line for line in lines if is_select(line) == chosen]
        hours = write_split(args.corpus, split, resource, part, labels)
        print(f"{split}: {len(part)} lines, {hours:.2f} h")


if __name__ == "__main__":
    main()
