"""Where resamplers and codecs leave the spectrum's floor: what the rate estimator's
stopband cue (spectrum.stopband_edge) may count as a source's Nyquist frequency.

    python benchmarks/stopband.py

Content made at a source rate S (white noise at -20 dBFS, and a real recording), upsampled
to a higher rate T by each resampler, written as 16-bit samples; then MP3, AAC and Opus
coded at S before the same upsampling. Prints, per resampler or codec, how often an edge was
found and where it lay as a share of S/2 (median and range), and how often the cue names S
(the edge within the accepted band of S/2) or another standard rate (a misleading edge).
Needs ffmpeg for the codecs and sox, scipy and samplerate (libsamplerate) for those rows.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
import resamplers  # noqa: E402
from wav2text.audio import open_audio, to_mono  # noqa: E402
from wav2text.estimation.spectrum import (  # noqa: E402
    edge_rates,
    long_term_spectrum,
    stopband_edge,
)
from wav2text.rate import STANDARD_RATES  # noqa: E402

SOURCES = (8000, 11025, 16000, 22050, 24000, 32000)
TARGETS = (16000, 22050, 24000, 32000, 44100, 48000)
Resampler = Callable[[np.ndarray, int, int], np.ndarray]


def _soxr(quality: str) -> Resampler:
    return lambda x, s, t: soxr.resample(x, s, t, quality=quality)


def _libsamplerate(converter: str) -> Resampler:
    return lambda x, s, t: resamplers.libsamplerate(x, s, t, converter)


def all_resamplers() -> dict[str, Resampler]:
    found: dict[str, Resampler] = {f"soxr {q}": _soxr(q) for q in ("VHQ", "HQ", "MQ", "LQ")}
    found["FFmpeg swr (PyAV)"] = resamplers.swr
    if shutil.which("sox"):
        found["sox rate -h"] = resamplers.sox
    for package, rows in (
        (
            "samplerate",
            {f"libsamplerate {c}": _libsamplerate(c) for c in ("sinc_best", "sinc_fastest")},
        ),
        ("scipy", {"scipy resample_poly": resamplers.resample_poly}),
    ):
        if importlib.util.find_spec(package):
            found |= rows
        else:
            print(f"({package} not installed: no {', '.join(rows)} rows)")
    return found


def coded(x: np.ndarray, rate: int, codec: str, work: Path) -> np.ndarray | None:
    """x through an encoder at `rate` (Opus: its own 48 kHz, band-limited by bitrate)."""
    settings = {
        "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
        "aac": ["-c:a", "aac", "-b:a", "48k"],
        "opus": ["-c:a", "libopus", "-b:a", "24k"],
    }[codec]
    source, encoded = work / "in.wav", work / f"out.{'m4a' if codec == 'aac' else codec}"
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with av.open(str(source), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        out.mux([*stream.encode(frame), *stream.encode(None)])
    done = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *settings, str(encoded)],
        capture_output=True,
    )
    if done.returncode:
        return None
    decoded = open_audio(encoded)  # Opus decodes at 48 kHz: back to S, as a tool would write it
    samples = np.concatenate(list(to_mono(decoded)))
    assert decoded.rate is not None
    return (
        soxr.resample(samples, decoded.rate, rate, quality="VHQ")
        if decoded.rate != rate
        else samples
    )


def contents(rate: int) -> dict[str, np.ndarray]:
    noise = np.random.default_rng(rate).standard_normal(rate * 6) * 0.1
    clip = ROOT / "tests" / "data" / "real" / "vctk_p286_011_48k.wav"
    speech = np.concatenate(list(to_mono(open_audio(clip))))
    return {
        "noise": noise.astype(np.float32),
        "speech": soxr.resample(speech, 48000, rate, quality="VHQ").astype(np.float32),
    }


def measure(name: str, pairs: list[tuple[np.ndarray, int, int]], resample: Resampler) -> None:
    ratios, right, wrong, missing = [], 0, 0, 0
    for x, s, t in pairs:
        y = np.round(np.clip(resample(x, s, t), -1, 1) * 32767) / 32767  # written as s16
        spectrum = long_term_spectrum(y)
        edge = stopband_edge(spectrum, t) if spectrum is not None else None
        if edge is None:
            missing += 1
            continue
        ratios.append(edge / (s / 2))
        named = edge_rates(edge)
        right += s in named
        wrong += bool(named) and s not in named
    found = np.array(ratios)
    where = (
        f"edge/(S/2) median {np.median(found):.3f}, {found.min():.3f}-{found.max():.3f}"
        if len(found)
        else "no edge"
    )
    print(
        f"  {name:24s} found {len(found)}/{len(pairs)}; {where}; names S {right}, "
        f"another rate {wrong}"
    )


def main() -> None:
    pairs = {kind: [] for kind in ("noise", "speech")}  # type: dict[str, list]
    for s in SOURCES:
        made = contents(s)
        for t in TARGETS:
            if t > 1.05 * s:
                for kind, x in made.items():
                    pairs[kind].append((x, s, t))
    for kind, kind_pairs in pairs.items():
        print(f"\n{kind}: {len(kind_pairs)} (source, target) pairs, source rates {SOURCES}")
        for name, resample in all_resamplers().items():
            measure(name, kind_pairs, resample)
    print("\ncodecs at the source rate, then soxr HQ up (speech)")
    with tempfile.TemporaryDirectory() as work:
        for codec in ("mp3", "aac", "opus"):
            codec_pairs = []
            for x, s, t in pairs["speech"]:
                y = coded(x, s, codec, Path(work))
                if y is not None:
                    codec_pairs.append((y, s, t))
            measure(codec, codec_pairs, _soxr("HQ"))
    print(f"standard rates: {STANDARD_RATES}")


if __name__ == "__main__":
    main()
