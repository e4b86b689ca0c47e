"""Measure models the way users meet them, through wav2text:
`python -m training.evaluate MODEL [MODEL ...]`.

Prints CER/WER on the held-out test splits of a corpus (sentences never trained on; seen
voices, a voice never heard, seen voices replayed in simulated rooms with noise at 10 dB
SNR, Kokoro voices never heard), per-clip CER/WER on the real recordings in
tests/data/real, inference speed on one CPU thread and the weights' size; with several
models, one table of them side by side at the end.
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
from wav2text.resolve import BUNDLED_DIR, BUNDLED_MODEL

from .real import REAL_DIR, real_clips
from .text import normalise
from .train import TESTS, Corpus

SPLITS = TESTS


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
    parser.add_argument("models", nargs="+")
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
    reports = [measure(model, args) for model in args.models]
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))
    if len(reports) > 1:
        print(table(reports))


def measure(model: str, args: argparse.Namespace) -> dict[str, object]:
    transcriber = Transcriber(ModelOptions(model, lm=args.lm))
    options = TranscribeOptions(sample_rate=16000, segmentation=args.segmentation)
    report: dict[str, object] = {
        "model": model,
        "segmentation": args.segmentation,
        "decoder": transcriber.decoder,
    }
    for split in SPLITS:
        if (args.corpus / f"{split}.tsv").exists():
            report[split] = split_scores(transcriber, Corpus(args.corpus, split), options)
            print(split, report[split], flush=True)
    clips = real_clip_scores(transcriber, args.real, options)
    if clips:
        report["real"] = clips
        for clip in clips:
            scores = f"CER {clip['cer']:.3f} WER {clip['wer']:.3f}"
            print(f"{clip['file']:40s} {scores}  {clip['hypothesis']}")
        report["real-mean"] = {
            "cer": float(np.mean([c["cer"] for c in clips])),
            "wer": float(np.mean([c["wer"] for c in clips])),
        }
        print(f"real clips: mean {report['real-mean']}")
    report["x_real_time_1_thread"] = speed(transcriber, Corpus(args.corpus, SPLITS[0]), options)
    print(f"speed: {report['x_real_time_1_thread']:.1f}x real time on 1 CPU thread")
    weights = (BUNDLED_DIR if model == BUNDLED_MODEL else Path(model)) / "model.safetensors"
    report["megabytes"] = weights.stat().st_size / 1e6 if weights.exists() else None
    return report


def table(reports: list[dict]) -> str:
    """Markdown: a row per measure, a column per model."""
    rows = [f"| | {' | '.join(str(r['model']) for r in reports)} |"]
    rows.append("|---" * (len(reports) + 1) + "|")
    for split in (*SPLITS, "real-mean"):
        if all(split in r for r in reports):
            cells = [f"{r[split]['cer']:.3f} / {r[split]['wer']:.3f}" for r in reports]
            rows.append(f"| {split} CER / WER | {' | '.join(cells)} |")
    speeds = [f"{r['x_real_time_1_thread']:.0f}x" for r in reports]
    rows.append(f"| speed, 1 thread | {' | '.join(speeds)} |")
    sizes = [f"{r['megabytes']:.1f} MB" if r["megabytes"] else "?" for r in reports]
    rows.append(f"| weights | {' | '.join(sizes)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
