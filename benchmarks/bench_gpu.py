"""Throughput by precision and batch size, base- and large-sized random models, on a GPU;
and the bundled model's words on the GPU against the CPU.

    python benchmarks/bench_gpu.py [--device cuda] [--minutes 10] [--batches 1 8 32]

The real recordings of tests/data/real joined by natural pauses (no speech synthesis:
a GPU machine may have no apt), repeated to `--minutes`; VAD segmentation, and the
pipeline's own 10 s windows; the transformers pipeline at fp32 with 10 s chunks as the
reference row. Runs on CPU too
(`--device cpu --minutes 0.5 --sizes base --dtypes float32 --batches 1 4`) to check itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import jiwer
import numpy as np
import soxr
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from bench_speed import (  # noqa: E402
    BUNDLED_MODEL,
    PIPELINE_CHUNK_S,
    RATE,
    agreement,
    best_time,
    differing_words,
    forward_only,
    joined,
    write_wav,
)
from rate_estimation import real  # noqa: E402
from tiny_models import BASE, LARGE, make_model  # noqa: E402
from wav2text import ModelOptions, TranscribeOptions, Transcriber  # noqa: E402
from wav2text.audio import open_audio, to_mono  # noqa: E402

SIZES = {"base": (BASE, False), "large": (LARGE, True)}
WINDOWS = TranscribeOptions(
    segmentation="window", chunk_length_s=PIPELINE_CHUNK_S, stride_length_s=PIPELINE_CHUNK_S / 6
)


def synchronised(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sizes", nargs="+", default=["base", "large"], choices=SIZES)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16", "bfloat16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "words"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wav2text-gpu-"))
    clips = [soxr.resample(x, rate, RATE).astype(np.float32) for _, x, rate in real()]
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"# {device_name}, torch {torch.__version__}")
    if "throughput" not in args.skip:
        wav = write_wav(work / "speech.wav", joined(clips), repeat_to_s=args.minutes * 60)
        for size in args.sizes:
            throughput(args, work / size, wav, size)
    if "words" not in args.skip:
        words(args, clips)


def throughput(args: argparse.Namespace, model_dir: Path, wav: Path, size: str) -> None:
    config, mask = SIZES[size]
    make_model(model_dir, size=config, attention_mask=mask)
    samples = np.concatenate(list(to_mono(open_audio(wav))))
    seconds = len(samples) / RATE
    print(
        f"\n## {size}-sized random model ({'attention mask' if mask else 'no mask'}), "
        f"{seconds:.0f} s of speech"
    )
    reference_s = pipeline_time(model_dir, samples, args)
    print(
        f"transformers pipeline fp32, chunk {PIPELINE_CHUNK_S:.0f} s: "
        f"{seconds / reference_s:.1f}x real time"
    )
    cutting_s = segmentation_time(model_dir, samples, args)
    print(f"segmentation alone (Silero VAD on CPU, no model): {seconds / cutting_s:.1f}x real time")
    print("| dtype | segmentation | batch | x real time | vs pipeline fp32 |")
    print("|---|---|---|---|---|")
    for dtype in args.dtypes:
        transcriber = Transcriber(ModelOptions(str(model_dir), device=args.device, dtype=dtype))
        runs = [("vad", TranscribeOptions(batch_size=b)) for b in args.batches]
        runs.append(("window 10 s", replace(WINDOWS, batch_size=32)))
        for label, options in runs:
            transcriber.transcribe(wav, options)  # warm-up
            elapsed, _ = best_time(
                lambda t=transcriber, o=options: (t.transcribe(wav, o), synchronised(args.device)),
                args.repeats,
            )
            print(
                f"| {dtype} | {label} | {options.batch_size} | {seconds / elapsed:.1f} "
                f"| {reference_s / elapsed:.2f}x |"
            )
        forward_s = forward_only(transcriber, samples, TranscribeOptions(), args.repeats)
        print(f"| {dtype} | vad | model forward alone, 1 at a time | {seconds / forward_s:.1f} | |")
        del transcriber
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


def words(args: argparse.Namespace, clips: list[np.ndarray]) -> None:
    """The bundled model on each real clip: CPU fp32 is the reference."""
    cpu = Transcriber(BUNDLED_MODEL)
    reference = " ".join(cpu.transcribe(c, TranscribeOptions(sample_rate=RATE)).text for c in clips)
    print(f"\n## Words: bundled demo model, {len(clips)} real clips, {args.device} vs CPU fp32")
    print("| run | word agreement | (letters) | differing words |")
    print("|---|---|---|---|")
    for dtype in args.dtypes:
        transcriber = Transcriber(ModelOptions(BUNDLED_MODEL, device=args.device, dtype=dtype))
        text = " ".join(
            transcriber.transcribe(c, TranscribeOptions(sample_rate=RATE)).text for c in clips
        )
        differing = differing_words(reference, text) or "none"
        print(
            f"| {args.device} {dtype} | {agreement(reference, text):.3f} "
            f"| {1 - jiwer.cer(reference, text):.3f} | {differing} |"
        )


def segmentation_time(model_dir: Path, samples: np.ndarray, args: argparse.Namespace) -> float:
    transcriber = Transcriber(ModelOptions(str(model_dir), device=args.device))
    return best_time(lambda: list(transcriber.pieces([samples], TranscribeOptions())), 1)[0]


def pipeline_time(model_dir: Path, samples: np.ndarray, args: argparse.Namespace) -> float:
    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(model_dir), device=args.device)
    return best_time(
        lambda: asr({"raw": samples, "sampling_rate": RATE}, chunk_length_s=PIPELINE_CHUNK_S),
        1,
    )[0]


if __name__ == "__main__":
    main()
