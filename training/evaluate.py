"""Measure a model the way users meet it, through wav2text: `python -m training.evaluate MODEL`.

Prints CER/WER on the held-out test splits of a corpus (sentences never trained on; seen
voices, and a voice never heard), per-clip CER/WER on the real recordings in
tests/data/real, and inference speed on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jiwer
import numpy as np
import torch

from wav2text import ModelOptions, TranscribeOptions, Transcriber
from wav2text.lm import lm_argument
from wav2text.options import SEGMENTATIONS

from .real import REAL_DIR, real_clips
from .text import normalise
from .train import Corpus

SPLITS = ("test-seen-voices", "test-held-out-voice")


def split_scores(
    transcriber: Transcriber, corpus: Corpus, options: TranscribeOptions
) -> dict[str, float]:
    hyps = [
        transcriber.transcribe(corpus.samples(i), options).text for i in range(len(corpus.texts))
    ]
    return {
        "utterances": len(hyps),
        "cer": jiwer.cer(corpus.texts, hyps),
        "wer": jiwer.wer(corpus.texts, hyps),
    }


def real_clip_scores(
    transcriber: Transcriber, directory: Path, options: TranscribeOptions
) -> list[dict[str, object]]:
    out = []
    for clip in real_clips(directory):
        hyp = transcriber.transcribe(clip.path, clip.options(options)).text
        ref = normalise(clip.transcript)
        out.append(
            {
                "file": clip.file,
                "cer": jiwer.cer(ref, hyp),
                "wer": jiwer.wer(ref, hyp),
                "hypothesis": hyp,
            }
        )
    return out


def speed(
    transcriber: Transcriber, corpus: Corpus, options: TranscribeOptions, seconds: float = 60.0
) -> float:
    """Audio seconds per wall second on one thread, whole pipeline, 16 kHz input."""
    torch.set_num_threads(1)
    audio, i = [], 0
    while sum(len(a) for a in audio) < seconds * 16000:
        audio.append(corpus.samples(i % len(corpus.texts)))
        i += 1
    samples = np.concatenate(audio)
    transcriber.transcribe(samples[:16000], options)  # warm-up
    start = time.perf_counter()
    transcriber.transcribe(samples, options)
    return len(samples) / 16000 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--corpus", type=Path, default=Path("runs/corpus"))
    parser.add_argument("--real", type=Path, default=REAL_DIR)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--segmentation", choices=SEGMENTATIONS, default="vad")
    parser.add_argument(
        "--lm",
        type=lm_argument,
        default="auto",
        help="language model: auto (the model's own), none, or a path",
    )
    args = parser.parse_args()
    transcriber = Transcriber(ModelOptions(args.model, lm=args.lm))
    options = TranscribeOptions(sample_rate=16000, segmentation=args.segmentation)
    report: dict[str, object] = {
        "model": args.model,
        "segmentation": args.segmentation,
        "decoder": transcriber.decoder,
    }
    for split in SPLITS:
        report[split] = split_scores(transcriber, Corpus(args.corpus, split), options)
        print(split, report[split], flush=True)
    clips = real_clip_scores(transcriber, args.real, options)
    if clips:
        report["real"] = clips
        for clip in clips:
            scores = f"CER {clip['cer']:.3f} WER {clip['wer']:.3f}"
            print(f"{clip['file']:40s} {scores}  {clip['hypothesis']}")
        mean_cer = np.mean([c["cer"] for c in clips])
        mean_wer = np.mean([c["wer"] for c in clips])
        print(f"real clips: mean CER {mean_cer:.3f} WER {mean_wer:.3f}")
    report["x_real_time_1_thread"] = speed(transcriber, Corpus(args.corpus, SPLITS[0]), options)
    print(f"speed: {report['x_real_time_1_thread']:.1f}x real time on 1 CPU thread")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
