"""Throughput by precision and batch size, base- and large-sized random models, on a GPU.

    python benchmarks/bench_gpu.py [--device cuda] [--minutes 10] [--batches 1 8 32]

The real recordings of ../shared/data/real joined by natural pauses (no speech synthesis:
a GPU machine may have no apt), repeated to `--minutes`; VAD segmentation; the transformers
pipeline at fp32 with 10 s chunks as the reference row. Runs on CPU too
(`--device cpu --minutes 0.5 --sizes base --dtypes float32 --batches 1 4`) to check itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soxr
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from bench_speed import PIPELINE_CHUNK_S, RATE, best_time, joined, write_wav  # noqa: E402
from rate_estimation import real  # noqa: E402
from tiny_models import BASE, LARGE, make_model  # noqa: E402
from wav2text import ModelOptions, TranscribeOptions, Transcriber  # noqa: E402

SIZES = {"base": (BASE, False), "large": (LARGE, True)}


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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wav2text-gpu-"))
    clips = [soxr.resample(x, rate, RATE).astype(np.float32) for _, x, rate in real()]
    audio = joined(clips)
    wav = write_wav(work / "speech.wav", audio, repeat_to_s=args.minutes * 60)
    seconds = args.minutes * 60
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"# {seconds:.0f} s of speech, {device_name}, torch {torch.__version__}")
    for size in args.sizes:
        config, mask = SIZES[size]
        model_dir = make_model(work / size, size=config, attention_mask=mask)
        print(f"\n## {size}-sized random model ({'attention mask' if mask else 'no mask'})")
        reference_s = pipeline_time(model_dir, wav, args)
        print(
            f"transformers pipeline fp32, chunk {PIPELINE_CHUNK_S:.0f} s: "
            f"{seconds / reference_s:.1f}x real time"
        )
        print("| dtype | batch | x real time | vs pipeline fp32 |")
        print("|---|---|---|---|")
        for dtype in args.dtypes:
            transcriber = Transcriber(ModelOptions(str(model_dir), device=args.device, dtype=dtype))  # type: ignore[arg-type]
            for batch in args.batches:
                options = TranscribeOptions(batch_size=batch)
                transcriber.transcribe(wav, options)  # warm-up
                elapsed, _ = best_time(
                    lambda t=transcriber, o=options: (
                        t.transcribe(wav, o),
                        synchronised(args.device),
                    ),
                    args.repeats,
                )
                print(
                    f"| {dtype} | {batch} | {seconds / elapsed:.1f} "
                    f"| {reference_s / elapsed:.2f}x |"
                )
            del transcriber
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()


def pipeline_time(model_dir: Path, wav: Path, args: argparse.Namespace) -> float:
    from transformers import pipeline

    from wav2text.audio import open_audio, to_mono

    samples = np.concatenate(list(to_mono(open_audio(wav))))
    asr = pipeline("automatic-speech-recognition", model=str(model_dir), device=args.device)
    return best_time(
        lambda: asr({"raw": samples, "sampling_rate": RATE}, chunk_length_s=PIPELINE_CHUNK_S),
        1,
    )[0]


if __name__ == "__main__":
    main()
