"""Hotwords measured side by side in one run, with the bundled demo model and its LM:

    python benchmarks/bench_hotwords.py [--utterances 100] [--weight W]

Speech: espeak-ng voices of the demo model's training set (8 English accents) reading
sentences that hold an invented name (none of them in the LM: "please call Zorblax at
noon"), and as many held-out fortune sentences with no name. Printed: how often the name
comes out spelled right (recall) with no hotwords, with hotword lists of 1, 10 and 1,000
entries (its own name among invented others), the WER of the no-name sentences without and
with a 10-name list (false insertions), and the time per utterance of each.
Needs espeak-ng and the fortunes databases (see training/README.md). Run it alone.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
from training.text import fortune_sentences, is_held_out, normalise  # noqa: E402

from wav2text import ModelOptions, TranscribeOptions, Transcriber  # noqa: E402
from wav2text.resolve import BUNDLED_MODEL  # noqa: E402

ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "k", "kl", "m", "n", "p", "qu", "r", "s",
          "sk", "t", "tr", "v", "z", "zh", "th", "l", "j"]  # fmt: skip
VOWELS = ["a", "e", "i", "o", "u", "ai", "ee", "oo"]
CODAS = ["", "n", "r", "x", "k", "m", "nd", "st", "lt", "sh"]
TEMPLATES = [
    "please call {} at noon tomorrow",
    "the ferry to {} leaves in the morning",
    "we met {} at the station last week",
    "my friend {} will bring the letters",
    "the doctor said {} should rest today",
    "send the parcel to {} before friday",
]
VOICES = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-us+f3", "en+m4", "en-029", "en+f2"]


def names(count: int, known: Transcriber, seed: int) -> list[str]:
    """Invented two-syllable names the LM does not know."""
    rng, found = random.Random(seed), dict[str, None]()
    beam = known.beam
    assert beam is not None
    while len(found) < count:
        name = "".join(rng.choice(p) for p in (ONSETS, VOWELS, CODAS, ONSETS, VOWELS, CODAS))
        if 5 <= len(name) <= 10 and beam.word_index(name) == beam.unknown:
            found[name.capitalize()] = None
    return list(found)


def speak(text: str, voice: str, path: Path) -> Path:
    """espeak-ng's `voice`, or with voice "kokoro" a Kokoro mixture of its training styles."""
    if voice != "kokoro":
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        return path
    from training.kokoro import RATE, random_mixture, render

    from wav_files import write_s16_wav

    mixture = random_mixture(random.Random(text), held_out=False)
    samples = (np.clip(render(mixture, 1.0, text), -1, 1) * 32767).astype(np.int16)
    return write_s16_wav(path, [samples], RATE)


def run(
    transcriber: Transcriber, clips: list[Path], lists: list[tuple[str, ...]], weight: float | None
) -> tuple[list[str], float]:
    texts, started = [], time.perf_counter()
    for clip, hotwords in zip(clips, lists, strict=True):
        options = TranscribeOptions(hotwords=hotwords, hotword_weight=weight)
        texts.append(transcriber.transcribe(clip, options).text)
    return texts, (time.perf_counter() - started) / len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument(
        "--weight", type=float, help="default: the decoder's own (7 with the LM, 20 without)"
    )
    parser.add_argument(
        "--lm", choices=("model", "none"), default="model", help="none: the beam search without it"
    )
    parser.add_argument(
        "--kokoro", action="store_true", help="every other utterance in a Kokoro voice"
    )
    args = parser.parse_args()
    known = Transcriber(BUNDLED_MODEL)  # its LM's vocabulary says which names are unknown
    pool = names(1000 + args.utterances, known, seed=7)
    transcriber = known if args.lm == "model" else Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))
    said, others = pool[: args.utterances], pool[args.utterances :]
    plain = [s for s in fortune_sentences() if is_held_out(s) and 5 <= len(s.split()) <= 14]
    rng = random.Random(3)
    voices = [v for pair in zip(VOICES, ["kokoro"] * len(VOICES), strict=True) for v in pair]
    voices = voices if args.kokoro else VOICES
    with tempfile.TemporaryDirectory() as work:
        named = [
            speak(TEMPLATES[i % len(TEMPLATES)].format(name), voices[i % len(voices)],
                  Path(work) / f"n{i}.wav")
            for i, name in enumerate(said)
        ]  # fmt: skip
        chosen = rng.sample(plain, args.utterances)
        unnamed = [speak(s, voices[i % len(voices)], Path(work) / f"p{i}.wav")
                   for i, s in enumerate(chosen)]  # fmt: skip
        print(f"{len(named)} utterances with a name, {len(unnamed)} without; weight "
              f"{args.weight or 'the default'}; {transcriber.decoder}")  # fmt: skip
        print("\nhotwords given            recall  s/utterance")
        for label, size in (
            ("none", 0),
            ("its own name", 1),
            ("10 names", 10),
            ("1000 names", 1000),
        ):
            lists = [_list(name, others, size, i) for i, name in enumerate(said)]
            texts, seconds = run(transcriber, named, lists, args.weight)
            found = [n.upper() in t.split() for n, t in zip(said, texts, strict=True)]
            kokoro = [f for i, f in enumerate(found) if voices[i % len(voices)] == "kokoro"]
            of_kokoro = f"  (Kokoro voices {sum(kokoro) / len(kokoro):.1%})" if kokoro else ""
            print(f"  {label:22s} {sum(found) / len(said):7.1%}  {seconds:10.3f}{of_kokoro}")
        refs = [normalise(s) for s in chosen]
        for label, hotwords in (("none", ()), ("10 names", tuple(others[:10]))):
            texts, seconds = run(transcriber, unnamed, [hotwords] * len(unnamed), args.weight)
            print(f"no-name sentences, hotwords {label:9s}: WER {jiwer.wer(refs, texts):.4f} "
                  f"({seconds:.3f} s/utterance)")  # fmt: skip


def _list(name: str, others: list[str], size: int, index: int) -> tuple[str, ...]:
    if size == 0:
        return ()
    start = (index * 7) % max(1, len(others) - size)
    return (name, *others[start : start + size - 1])


if __name__ == "__main__":
    main()
