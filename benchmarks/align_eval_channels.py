"""Forced alignment, evaluation and split channels, measured on the bundled demo model.

    python benchmarks/align_eval_channels.py [--skip accuracy memory eval channels]

- accuracy: sentences synthesised word by word (espeak-ng, three voices) with 50-300 ms
  of silence between words, so every word's start and end is known; the median and 90th
  percentile error of aligned starts and ends; and the same speech as 44.1 kHz stereo AAC
  and 8 kHz FLAC: how far its word times move.
- memory: peak RSS of `wav2text align` on a 10-second and a 60-minute file (fresh
  processes), and its speed.
- eval: `wav2text eval` on the repository's real clips, and jiwer over the same
  transcripts by hand.
- channels: two speakers, one per channel, overlapping in time: WER per channel with
  channels="split" and of the mixed-down default.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_align import speak  # noqa: E402
from test_channels import LEFT, RIGHT, SPLIT, said_on, speech, stereo_wav  # noqa: E402
from wav2text import BUNDLED_MODEL, ModelOptions, TranscribeOptions, Transcriber  # noqa: E402
from wav2text.evaluate import Item, Normalisation, evaluate  # noqa: E402

SENTENCES = [
    "never go to bed mad",
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "a stitch in time saves nine",
    "people who live in glass houses should not throw stones",
    "the early bird catches the worm",
    "actions speak louder than words",
    "every cloud has a silver lining",
]


def write_wav(path: Path, audio: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def accuracy(demo: Transcriber, work: Path) -> None:
    starts, ends, moved = [], [], []
    for seed, sentence in enumerate(SENTENCES):
        audio, truth = speak(sentence.split(), seed)
        result = demo.align(audio, sentence, TranscribeOptions(sample_rate=16000))
        for word, (_, start, end) in zip(result.words, truth, strict=True):
            starts.append(word.start - start)
            ends.append(word.end - end)
        wav = write_wav(work / f"s{seed}.wav", audio)
        for name, args in [("m4a", ["-ar", "44100", "-ac", "2"]), ("flac", ["-ar", "8000"])]:
            other = work / f"s{seed}.{name}"
            command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *args, str(other)]
            subprocess.run(command, check=True)
            pairs = zip(demo.align(other, sentence).words, result.words, strict=True)
            moved += [d for a, b in pairs for d in (abs(a.start - b.start), abs(a.end - b.end))]
    both = np.abs(np.r_[starts, ends])
    print(f"alignment, {len(starts)} words of {len(SENTENCES)} sentences:")
    print(f"  |error| median {ms(np.median(both))}, p90 {ms(np.percentile(both, 90))}")
    for name, errors in (("starts", starts), ("ends", ends)):
        p90 = ms(np.percentile(np.abs(errors), 90))
        print(f"  {name}: median {ms(np.median(errors), '+')} (p90 of |error| {p90})")
    print(f"  at 44.1 kHz stereo AAC and 8 kHz FLAC, times moved by median "
          f"{ms(np.median(moved))}, max {ms(np.max(moved))}")  # fmt: skip


def ms(seconds: float, sign: str = "") -> str:
    return f"{seconds * 1000:{sign}.0f} ms"


def memory(work: Path) -> None:
    pieces, text = [], []
    for seed, sentence in enumerate(SENTENCES):
        audio, _ = speak(sentence.split(), seed)
        pieces.append(audio)
        text.append(sentence)
    base = np.concatenate(pieces)
    for minutes in (10 / 60, 60):
        repeat = max(1, round(minutes * 60 * 16000 / len(base)))
        wav = write_wav(work / f"long{repeat}.wav", np.tile(base, repeat))
        (work / f"long{repeat}.txt").write_text(" ".join(text * repeat))
        script = (
            "import sys, time\n"
            "from wav2text import Transcriber, ModelOptions\n"
            f"t = Transcriber(ModelOptions({BUNDLED_MODEL!r}, lm=None, threads=1))\n"
            "started = time.perf_counter()\n"
            f"r = t.align({str(wav)!r}, open({str(work / f'long{repeat}.txt')!r}).read())\n"
            "took = time.perf_counter() - started\n"
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent's fork
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(r.duration, took, hwm, sum(w.confidence < 0.2 for w in r.words), len(r.words))\n"
        )
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        duration, took, rss_kb, low, words = out.stdout.split()
        speed = float(duration) / float(took)
        print(f"align {float(duration) / 60:.1f} min: peak RSS {int(rss_kb) / 1024:.0f} MB, "
              f"{speed:.0f}x real time, {low}/{words} words scored < 0.2")  # fmt: skip


def eval_real(demo: Transcriber) -> None:
    from training.real import real_clips

    clips = [c for c in real_clips() if c.path.suffix != ".raw"]
    result = evaluate(demo, [Item(c.path, c.transcript) for c in clips])
    normalise = Normalisation()
    refs = [normalise(c.transcript) for c in clips]
    hyps = [normalise(demo.transcribe(c.path).text) for c in clips]
    by_hand = f"WER {jiwer.wer(refs, hyps):.3f} CER {jiwer.cer(refs, hyps):.3f}"
    print(f"eval on {len(clips)} real clips: WER {result.wer:.3f} CER {result.cer:.3f}; "
          f"jiwer by hand: {by_hand}")  # fmt: skip


def channels(work: Path) -> None:
    call = stereo_wav(work / "call.wav", speech(LEFT, "en-us"), speech(RIGHT, "en-us+f3"))
    for lm in ("auto", None):
        demo = Transcriber(ModelOptions(BUNDLED_MODEL, lm=lm))
        split = demo.transcribe(call, SPLIT)
        mixed = demo.transcribe(call).text
        left, right = jiwer.wer(LEFT, said_on(split, 0)), jiwer.wer(RIGHT, said_on(split, 1))
        both = jiwer.wer(f"{LEFT} {RIGHT}", mixed)
        print(f"two speakers, LM {lm}: split WER channel 0 {left:.3f}, channel 1 {right:.3f}; "
              f"mixed-down WER {both:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip", nargs="*", default=[])
    args = parser.parse_args()
    demo = Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        started = time.perf_counter()
        if "accuracy" not in args.skip:
            accuracy(demo, work)
        if "eval" not in args.skip:
            eval_real(Transcriber(BUNDLED_MODEL))
        if "channels" not in args.skip:
            channels(work)
        if "memory" not in args.skip:
            memory(work)
        print(f"({time.perf_counter() - started:.0f} s; peak RSS of this process "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
