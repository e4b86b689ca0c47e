"""Speed, agreement and memory, measured side by side in one run: same files, same models.

    python benchmarks/bench_speed.py [--seconds 60] [--threads 1] [--repeats 2]

Speech: held-out sentences spoken by the demo model's training voices (rendered with
training.corpus, as its test split), joined by natural pauses of 0.2-0.8 s, 16 kHz mono.
Throughput is measured with random weights of wav2vec2-base size (base-960h's compute and
layout: group norm, no attention mask); words can only be compared with a model that
recognises them, so agreement is measured with the bundled demo model. The transformers
pipeline gets the decoded array (it pays no decoding); wav2text reads the WAV file.
Needs espeak-ng, flite, festival and the fortunes databases (see training/README.md).
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import jiwer
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
from training.corpus import utterance  # noqa: E402
from training.text import fortune_sentences, is_held_out  # noqa: E402

from tiny_models import BASE, make_model  # noqa: E402
from wav2text import ModelOptions, TranscribeOptions, Transcriber  # noqa: E402
from wav2text.resolve import BUNDLED_MODEL  # noqa: E402
from wav_files import write_s16_wav  # noqa: E402

RATE = 16000
PIPELINE_CHUNK_S = 10.0  # the transformers pipeline setting the issue compares against
WINDOW = "window (the model's 6 s / 1 s)"
ALONE = "each utterance alone, unsegmented"
WHOLE = "whole file, one pass, unsegmented"
LEAD = 4000  # samples of silence: the control row shows how much 0.25 s of context moves words
SHIFTED = "control: each utterance alone after 0.25 s more silence"


def speech(seconds: float) -> tuple[list[np.ndarray], list[str]]:
    """Utterances of the demo model's test split until `seconds` of audio."""
    sentences = [s for s in fortune_sentences() if is_held_out(s)]
    clips, texts, total, i = [], [], 0.0, 0
    while total < seconds:
        audio, _, text = utterance("test-seen-voices", 0, i, sentences)
        clips.append(audio.astype(np.float32) / 32768)  # int16 from the renderer
        texts.append(text)
        total += len(audio) / RATE + 0.5
        i += 1
    return clips, texts


def joined(clips: list[np.ndarray], silence_share: float | None = None) -> np.ndarray:
    """Clips with pauses: natural (0.2-0.8 s) or stretched to a share of the whole."""
    rng = np.random.default_rng(0)
    pauses = rng.uniform(0.2, 0.8, len(clips))
    if silence_share is not None:
        spoken = sum(len(c) for c in clips) / RATE
        pauses *= spoken * silence_share / (1 - silence_share) / pauses.sum()
    parts = []
    for clip, pause in zip(clips, pauses, strict=True):
        parts += [clip, np.zeros(round(pause * RATE), np.float32)]
    return np.concatenate(parts)


def write_wav(path: Path, audio: np.ndarray, repeat_to_s: float | None = None) -> Path:
    """16-bit mono WAV of `audio`, repeated to `repeat_to_s` seconds if given."""
    total = round((repeat_to_s or len(audio) / RATE) * RATE)
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    blocks = (pcm[: min(len(pcm), total - start)] for start in range(0, total, len(pcm)))
    return write_s16_wav(path, blocks, RATE)


def cpu() -> str:
    """lscpu's model name and the vector flags speed figures depend on."""
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if "Model name" in line), "?")
    flags = next((line for line in lines if line.startswith("Flags")), "")
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_int8")
    return f"{model}; {' '.join(f for f in wanted if f' {f}' in flags)}"


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def forward_only(
    transcriber: Transcriber, audio: np.ndarray, options: TranscribeOptions, repeats: int
) -> float:
    """The model's own time on exactly the pieces wav2text runs: the floor to compare to."""
    pieces = [p.samples for p in transcriber.pieces([audio], options)]
    return best_time(lambda: [transcriber.model.log_probs(x) for x in pieces], repeats)[0]


def agreement(reference: str, hypothesis: str) -> float:
    return 1.0 - jiwer.wer(reference, hypothesis)


def differing_words(reference: str, hypothesis: str, limit: int = 8) -> str:
    a, b = reference.split(), hypothesis.split()
    pairs = [
        f"{' '.join(a[i1:i2]) or '-'} -> {' '.join(b[j1:j2]) or '-'}"
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b).get_opcodes()
        if op != "equal"
    ]
    return "; ".join(pairs[:limit]) + (f"; ... ({len(pairs)} in all)" if len(pairs) > limit else "")


def peak_rss_mb(path: Path) -> float:
    # VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the parent's size across fork + exec.
    code = (
        "import torch; torch.set_num_threads(1); from wav2text import Transcriber; "
        f"Transcriber({BUNDLED_MODEL!r}).transcribe({str(path)!r}); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(int(hwm.split()[1]) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def throughput(args: argparse.Namespace, base_dir: Path, audio: np.ndarray, wav: Path) -> None:
    from transformers import pipeline

    seconds = len(audio) / RATE
    asr = pipeline("automatic-speech-recognition", model=str(base_dir), device="cpu")
    theirs_s, _ = best_time(
        lambda: asr({"raw": audio, "sampling_rate": RATE}, chunk_length_s=PIPELINE_CHUNK_S),
        args.repeats,
    )
    print(
        f"\n## Throughput: random wav2vec2-base-size weights, {args.threads} thread(s), "
        f"{seconds:.0f} s of speech with natural pauses"
    )
    print(
        f"transformers pipeline fp32, chunk_length_s={PIPELINE_CHUNK_S:.0f}: "
        f"{seconds / theirs_s:6.2f}x real time"
    )
    print("| wav2text | x real time | vs pipeline fp32 | end-to-end / forward-only |")
    print("|---|---|---|---|")
    options = TranscribeOptions(batch_size=args.batch_size)
    for label, model_options in [
        ("fp32", ModelOptions(str(base_dir))),
        ("bf16 (autocast)", ModelOptions(str(base_dir), dtype="bfloat16")),
        ("int8 (dynamic)", ModelOptions(str(base_dir), quantize="int8")),
    ]:
        transcriber = Transcriber(model_options)
        transcriber.transcribe(wav, options)  # warm-up
        ours_s, _ = best_time(lambda t=transcriber: t.transcribe(wav, options), args.repeats)
        forward_s = forward_only(transcriber, audio, options, args.repeats)
        print(
            f"| {label} | {seconds / ours_s:.2f} | {theirs_s / ours_s:.2f}x "
            f"| {ours_s / forward_s:.3f} |"
        )
    transcriber = Transcriber(ModelOptions(str(base_dir)))
    window = replace(
        options,
        segmentation="window",
        chunk_length_s=PIPELINE_CHUNK_S,
        stride_length_s=PIPELINE_CHUNK_S / 6,
    )
    window_s, _ = best_time(lambda: transcriber.transcribe(wav, window), args.repeats)
    print(
        f"| fp32, segmentation=window (the pipeline's windows) | {seconds / window_s:.2f} "
        f"| {theirs_s / window_s:.2f}x | |"
    )


def silence(args: argparse.Namespace, base_dir: Path, work: Path, clips: list[np.ndarray]) -> None:
    from transformers import pipeline

    natural, half = joined(clips), joined(clips, silence_share=0.5)
    paths = write_wav(work / "natural.wav", natural), write_wav(work / "half.wav", half)
    asr = pipeline("automatic-speech-recognition", model=str(base_dir), device="cpu")
    fp32 = Transcriber(ModelOptions(str(base_dir)))
    bf16 = Transcriber(ModelOptions(str(base_dir), dtype="bfloat16"))
    runs: dict[str, Callable[[Path, np.ndarray], object]] = {
        f"transformers pipeline fp32, chunk {PIPELINE_CHUNK_S:.0f} s": lambda _, x: asr(
            {"raw": x, "sampling_rate": RATE}, chunk_length_s=PIPELINE_CHUNK_S
        ),
        "wav2text fp32, window": lambda p, _: fp32.transcribe(
            p, TranscribeOptions(segmentation="window")
        ),
        "wav2text fp32, vad": lambda p, _: fp32.transcribe(p),
        "wav2text bf16, vad": lambda p, _: bf16.transcribe(p),
    }
    print(
        f"\n## 50 % silence: the same speech, {len(natural) / RATE:.0f} s with natural pauses "
        f"vs {len(half) / RATE:.0f} s with half of it silence "
        f"(duration x{len(half) / len(natural):.2f}; base size)"
    )
    print("| run | time, natural | time, 50 % silence | time ratio | vs pipeline, 50 % silence |")
    print("|---|---|---|---|---|")
    baseline = None
    for label, run in runs.items():
        times = [
            best_time(lambda p=p, x=x: run(p, x), args.repeats)[0]  # noqa: B023
            for p, x in zip(paths, (natural, half), strict=True)
        ]
        baseline = baseline or times[1]
        print(
            f"| {label} | {times[0]:.1f} s | {times[1]:.1f} s | {times[1] / times[0]:.2f} "
            f"| {baseline / times[1]:.2f}x |"
        )


def words(audio: np.ndarray, wav: Path, clips: list[np.ndarray], texts: list[str]) -> None:
    seconds = len(audio) / RATE
    fp32 = Transcriber(BUNDLED_MODEL)
    whole = TranscribeOptions(
        segmentation="window", chunk_length_s=seconds + 10, stride_length_s=1.0
    )
    alone = TranscribeOptions(sample_rate=RATE, segmentation="window", chunk_length_s=60.0)
    runs = {
        ALONE: " ".join(fp32.transcribe(clip, alone).text for clip in clips),
        SHIFTED: " ".join(fp32.transcribe(np.pad(clip, (LEAD, 0)), alone).text for clip in clips),
        WHOLE: fp32.transcribe(wav, whole).text,
        WINDOW: fp32.transcribe(wav, TranscribeOptions(segmentation="window")).text,
        "vad": fp32.transcribe(wav, TranscribeOptions()).text,
        "vad, batch 8": fp32.transcribe(wav, TranscribeOptions(batch_size=8)).text,
    }
    for label, model_options in [
        ("vad bf16", ModelOptions(BUNDLED_MODEL, dtype="bfloat16")),
        ("vad int8", ModelOptions(BUNDLED_MODEL, quantize="int8")),
    ]:
        runs[label] = Transcriber(model_options).transcribe(wav, TranscribeOptions()).text
    truth, vad = " ".join(texts), runs["vad"]
    print(f"\n## Words: bundled demo model, {seconds:.0f} s, {len(truth.split())} words")
    print("word agreement = 1 - WER of the row against the column's transcript; (letters) 1 - CER")
    print(
        "| run | vs each utterance alone | (letters) | vs whole file | vs vad fp32 | WER vs truth |"
    )
    print("|---|---|---|---|---|---|")
    for label, text in runs.items():
        print(
            f"| {label} | {agreement(runs[ALONE], text):.3f} "
            f"| {1 - jiwer.cer(runs[ALONE], text):.3f} "
            f"| {agreement(runs[WHOLE], text):.3f} "
            f"| {agreement(vad, text):.3f} | {jiwer.wer(truth, text):.3f} |"
        )
    for label in ("vad bf16", "vad int8"):
        print(
            f"{label} vs vad fp32, differing words: {differing_words(vad, runs[label]) or 'none'}"
        )


def memory(work: Path, audio: np.ndarray) -> None:
    short = write_wav(work / "10s.wav", audio[: 10 * RATE])
    long = write_wav(work / "60min.wav", audio, repeat_to_s=3600)
    short_mb, long_mb = peak_rss_mb(short), peak_rss_mb(long)
    print("\n## Peak RSS, bundled model, vad, fresh process each")
    print(
        f"10-s file: {short_mb:.0f} MB; 60-min file: {long_mb:.0f} MB "
        f"(+{long_mb - short_mb:.0f} MB; target: at most +100 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], help="throughput silence words memory")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="wav2text-bench-"))
    clips, texts = speech(args.seconds)
    audio = joined(clips)
    wav = write_wav(work / "speech.wav", audio)
    print(
        f"# wav2text speed benchmark: {len(audio) / RATE:.1f} s of speech, {len(clips)} "
        f"utterances, torch {torch.__version__}, {args.threads} thread(s)"
    )
    base_dir = make_model(work / "base", size=BASE)
    if "throughput" not in args.skip:
        throughput(args, base_dir, audio, wav)
    if "silence" not in args.skip:
        silence(args, base_dir, work, clips)
    if "words" not in args.skip:
        words(audio, wav, clips, texts)
    if "memory" not in args.skip:
        memory(work, audio)


if __name__ == "__main__":
    main()
