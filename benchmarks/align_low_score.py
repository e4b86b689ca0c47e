"""Calibrate align's "is the text the transcript of this audio?" warning.

    python benchmarks/align_low_score.py [--model M] [--corpus runs/corpus3 --split S -n N]

Each utterance is aligned twice: with its own transcript (the warning would be a false
alarm) and with another utterance's (the warning should come). Printed per rule: the share
of utterances it flags in each case. Utterances: the repository's real clips
(tests/data/real, human transcripts) and, with --corpus, the first N of each --split of a
corpus the training recipe renders (training/README.md).

The rules: `any < t` (some word's score is below t: the rule wav2text used first),
`share < 0.2 >= s` (at least a share s of the words score below 0.2) and `mean < m`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.real import real_clips  # noqa: E402
from training.train import Corpus  # noqa: E402

from wav2text import BUNDLED_MODEL, ModelOptions, TranscribeOptions, Transcriber  # noqa: E402

Rule = Callable[[np.ndarray], bool]
RULES: dict[str, Rule] = {
    **{f"any < {t:g}": (lambda s, t=t: bool((s < t).any())) for t in (0.2, 0.1, 0.05, 0.02)},
    **{
        f"share < 0.2 >= {x:g}": (lambda s, x=x: bool((s < 0.2).mean() >= x))
        for x in (0.2, 0.3, 0.4, 0.5)
    },
    **{f"mean < {m:g}": (lambda s, m=m: bool(s.mean() < m)) for m in (0.2, 0.3, 0.4, 0.5)},
    **{f"median < {m:g}": (lambda s, m=m: bool(np.median(s) < m)) for m in (0.1, 0.2, 0.3)},
}
Utterance = tuple[str, object, TranscribeOptions, str]  # name, audio, options, transcript


def utterances(args: argparse.Namespace) -> Iterator[Utterance]:
    for clip in real_clips():
        yield f"real/{clip.file}", clip.path, clip.options(), clip.transcript
    for split in args.split if args.corpus else []:
        corpus = Corpus(args.corpus, split)
        for i in range(min(args.n, len(corpus.texts))):
            options = TranscribeOptions(sample_rate=16000)
            yield f"{split}/{i}", corpus.samples(i), options, corpus.texts[i]


def scores(model: Transcriber, audio: object, options: TranscribeOptions, text: str) -> np.ndarray:
    words = model.align(audio, text, options).words  # type: ignore[arg-type]
    return np.array([w.confidence for w in words], np.float32)


def table(own: list[np.ndarray], other: list[np.ndarray], title: str) -> None:
    print(f"\n{title}: {len(own)} utterances")
    print(f"{'rule':<22} {'false alarms (own text)':>24} {'caught (another text)':>22}")
    for label, rule in RULES.items():
        false = np.mean([rule(s) for s in own])
        caught = np.mean([rule(s) for s in other])
        print(f"{label:<22} {false:>23.1%} {caught:>22.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=BUNDLED_MODEL)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--split", nargs="+", default=["test-seen-voices", "test-held-out-voice"])
    parser.add_argument("-n", type=int, default=100)
    args = parser.parse_args()
    model = Transcriber(ModelOptions(args.model, lm=None))
    items = list(utterances(args))
    texts = [text for *_, text in items]
    own, other, lowest = [], [], []
    for i, (name, audio, options, text) in enumerate(items):
        mine = scores(model, audio, options, text)
        wrong = texts[(i + len(texts) // 2) % len(texts)]  # another utterance's words
        own.append(mine)
        other.append(scores(model, audio, options, wrong))
        lowest.append((float(mine.min()), name))
    print(f"model {args.model}")
    table(own, other, "all")
    groups = sorted({name.split("/")[0] for name, *_ in items})
    for group in groups:
        mine = [i for i, (name, *_) in enumerate(items) if name.startswith(group + "/")]
        table([own[i] for i in mine], [other[i] for i in mine], group)
    words = np.concatenate(own)
    print(
        f"word scores on own texts: {len(words)} words, median {np.median(words):.2f}, "
        f"{np.mean(words < 0.2):.1%} below 0.2, {np.mean(words < 0.02):.1%} below 0.02"
    )
    print("lowest word score per utterance, worst five:", sorted(lowest)[:5])


if __name__ == "__main__":
    main()
