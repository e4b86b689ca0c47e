"""Side-by-side measurements in one run, same files, same model (random weights, base size).

    python benchmarks/bench_core.py [--seconds 60] [--threads 1]

Prints: wav2text vs transformers pipeline throughput (audio s per wall s) and their ratio;
model-forward-only time vs wav2text end-to-end (efficiency); peak RSS for a 1-minute vs a
60-minute input (each in a fresh process, tiny model, so audio handling is what is measured).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_models import BASE, make_model
from wav2text import TranscribeOptions, Transcriber
from wav2text.segments import windows


def write_wav(path: Path, seconds: float, rate: int = 16000, channels: int = 1) -> Path:
    """Speech-like noise bursts, written in blocks so the writer's memory stays small."""
    rng = np.random.default_rng(0)
    container = av.open(str(path), "w")
    stream = container.add_stream(
        "pcm_s16le", rate=rate, layout="mono" if channels == 1 else "stereo"
    )
    block = rate * 10
    for start in range(0, int(seconds * rate), block):
        n = min(block, int(seconds * rate) - start)
        t = (start + np.arange(n)) / rate
        envelope = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
        x = (0.3 * envelope * rng.normal(size=n) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.tile(x, (channels, 1)).T.reshape(1, -1).copy(),
            format="s16",
            layout=stream.layout.name,
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def forward_only(transcriber: Transcriber, audio: np.ndarray, options: TranscribeOptions) -> float:
    """The model's own time on exactly the windows wav2text runs: the floor to compare to."""
    model = transcriber.model
    plan = transcriber.window_plan(options)
    total = 0.0
    for w in windows([audio], plan, model.hop):
        elapsed, _ = timed(lambda w=w: model.log_probs(w.samples))
        total += elapsed
    return total


def peak_rss_mb(model_dir: Path, path: Path) -> float:
    # VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the parent's size across fork + exec.
    code = (
        "from wav2text import Transcriber; "
        f"Transcriber({str(model_dir)!r}).transcribe({str(path)!r}); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(int(hwm.split()[1]) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="wav2text-bench-"))
    base_dir = make_model(work / "base", size=BASE)
    audio_path = write_wav(work / "speech.wav", args.seconds)
    options = TranscribeOptions(chunk_length_s=30.0, stride_length_s=5.0)
    transcriber = Transcriber(str(base_dir))
    with av.open(str(audio_path)) as container:
        frames = [f.to_ndarray()[0] for f in container.decode(audio=0)]
    audio = np.concatenate(frames).astype(np.float32) / 32768

    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(base_dir), device="cpu")
    ours_s, _ = timed(lambda: transcriber.transcribe(audio_path, options))
    theirs_s, _ = timed(
        lambda: asr(
            str(audio_path),
            chunk_length_s=options.chunk_length_s,
            stride_length_s=options.stride_length_s,
        )
    )
    forward_s = forward_only(transcriber, audio, options)
    print(f"model: random wav2vec2-base size, {args.threads} thread(s); input {args.seconds:.0f} s")
    print(f"wav2text throughput:     {args.seconds / ours_s:6.2f} x real time ({ours_s:.1f} s)")
    print(
        f"transformers pipeline:   {args.seconds / theirs_s:6.2f} x real time ({theirs_s:.1f} s)"
        f"  [chunk {options.chunk_length_s:.0f} s, stride {options.stride_length_s:.0f} s]"
    )
    print(f"ratio wav2text/pipeline: {theirs_s / ours_s:6.2f}")
    print(
        f"model forward only:      {forward_s:.1f} s; end-to-end/forward {ours_s / forward_s:.3f}"
    )

    tiny_dir = make_model(work / "tiny")
    short = write_wav(work / "1min.wav", 60, rate=44100, channels=2)
    long = write_wav(work / "60min.wav", 3600, rate=44100, channels=2)
    short_mb, long_mb = peak_rss_mb(tiny_dir, short), peak_rss_mb(tiny_dir, long)
    whole_mb = 3600 * 44100 * 2 * 4 / 2**20
    print(f"peak RSS 1-min 44.1 kHz stereo:  {short_mb:7.1f} MB")
    print(
        f"peak RSS 60-min 44.1 kHz stereo: {long_mb:7.1f} MB (ratio {long_mb / short_mb:.2f}; "
        f"the 60-min file decoded whole would be {whole_mb:.0f} MB of float32)"
    )


if __name__ == "__main__":
    main()
