"""The labelled headerless files the rate estimator is fitted and measured on, in two splits
made the same way from different speech.

fit: synthetic speech in voices the bundled model was trained on (held-out sentences), and
half of the real corpora in tests/data/real. held-out, what the fit never sees: new synthetic
speakers (other random voices, half of them the `slt` voice no training ever heard) and the
other half of the real corpora, so no speaker is in both.

Each source is written as s16le PCM at every candidate rate, each file by one of several
resamplers in turn (soxr at four qualities, FFmpeg's swr, sox, libsamplerate, scipy where
installed), and three real sources in four MP3-, AAC- or Opus-coded (in turn) at their own
rate first: the fit has to learn how far a stopband can be trusted from the same kinds of
processing users' files have been through. benchmarks/fit_rate_weights.py fits the
estimator's weights on the fit split and validates them leave-one-clip-out;
benchmarks/rate_estimation.py reports both splits.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from training.real import real_clips  # noqa: E402

from stopband import all_resamplers, coded  # noqa: E402
from wav2text import RawFormat  # noqa: E402
from wav2text.audio import open_audio, open_with, to_mono  # noqa: E402
from wav2text.rate import CANDIDATE_RATES  # noqa: E402

SPLITS = ("fit", "held-out")
CODECS = (None, "mp3", "aac", "opus")  # a held-out real source's coding, in turn


@dataclass(frozen=True)
class Source:
    clip: str  # leave-one-clip-out groups by it
    samples: np.ndarray  # mono float32
    rate: int


@dataclass(frozen=True)
class Case:
    clip: str
    made: str  # the resampler, and the source's codec if it had one
    true_rate: int
    data: bytes  # headerless s16le mono

    @property
    def raw(self) -> RawFormat:
        return RawFormat("s16le", 1)

    def mono(self) -> np.ndarray:
        """The samples as the estimator gets them (the rate given here is never used)."""
        return np.concatenate(list(to_mono(open_audio(self.data, raw=self.raw, sample_rate=16000))))


def sources(split: str, voices: int) -> list[Source]:
    return synthetic(split, voices) + real(split)


def cases(split: str, voices: int, rates: tuple[int, ...] = CANDIDATE_RATES) -> Iterator[Case]:
    """Every source at every candidate rate, made as the split makes them."""
    resamplers = all_resamplers()
    names = sorted(resamplers)
    with tempfile.TemporaryDirectory() as work:
        for i, source in enumerate(sources(split, voices)):
            codec = CODECS[i % len(CODECS)] if "/" in source.clip else None
            samples = (
                source.samples
                if codec is None
                else coded(source.samples, source.rate, codec, Path(work))
            )
            assert samples is not None, f"ffmpeg could not make {codec}"
            for t, rate in enumerate(rates):
                name = names[(i + t) % len(names)]
                resample = resamplers[name]
                made = name if codec is None else f"{codec} source, {name}"
                pcm = (np.clip(resample(samples, source.rate, rate), -1, 1) * 32767).astype("<i2")
                yield Case(source.clip, made, rate, pcm.tobytes())


def synthetic(split: str, count: int) -> list[Source]:
    from training.text import fortune_sentences, is_held_out
    from training.voices import random_voice, render

    sentences = [s for s in fortune_sentences() if is_held_out(s)]
    rng = random.Random("rate-estimation" if split == "fit" else "rate-estimation, held out")
    out = []
    for i in range(count):
        voice = random_voice(rng, held_out=split == "held-out" and i % 2 == 0)
        audio = render(voice, rng.choice(sentences)).astype(np.float32) / 32768
        out.append(Source(f"{voice.label} #{i}", audio, 16000))
    return out


def real(split: str, min_seconds: float = 2.0) -> list[Source]:
    """Real clips of every other corpus (sorted by name), so no speaker is in both splits."""
    clips = real_clips(min_seconds=min_seconds)
    corpora = sorted({_corpus(c.file) for c in clips})
    chosen = set(corpora[(split == "held-out") :: 2])
    out = []
    for clip in clips:
        if _corpus(clip.file) in chosen:
            audio = open_with(clip.path, clip.options())
            samples = np.concatenate(list(to_mono(audio)))
            assert audio.rate is not None
            out.append(Source(f"real/{clip.file}", samples, audio.rate))
    return out


def _corpus(file: str) -> str:
    return file.split("_")[0]


def arguments(description: str | None) -> argparse.ArgumentParser:
    """The options both scripts over these cases take: the judging model, the clip count."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default="wav2text:demo-en")
    parser.add_argument("--voices", type=int, default=8, help="synthetic clips per split")
    return parser
