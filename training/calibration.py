"""The speech int8 quantisation calibrates on (wav2text.runtime, --quantize int8 with
OpenVINO): utterances of the recipe's synthetic voices, espeak-ng, flite, festival and
Kokoro, from a rendered corpus, joined with short pauses and stored as Opus in the package.

    python -m training.calibration runs/corpus3 src/wav2text/bundled/calibration-en.ogg

Synthetic voices only: their audio is the project's own (espeak-ng's, flite's, festival's
and Kokoro's output, Apache-2.0 / MIT weights), so it can ship under MIT.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np

from .train import Corpus

RATE = 16000
SECONDS = 40.0
PAUSE_S = 0.3
BITRATE = 24000


def pick(corpus: Corpus, voices: list[str], seconds: float) -> list[np.ndarray]:
    """The first utterance of each voice family in turn (espeak-ng, flite, festival,
    kokoro), until `seconds` of speech."""
    chosen: list[np.ndarray] = []
    families = sorted({voice.split(":")[0] for voice in voices})
    taken = 0.0
    for i, voice in enumerate(voices):
        if taken >= seconds:
            break
        if voice.split(":")[0] == families[len(chosen) % len(families)]:
            chosen.append(corpus.samples(i))
            taken += len(chosen[-1]) / RATE
    return chosen


def write_opus(samples: np.ndarray, path: Path) -> None:
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.bit_rate = BITRATE
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = RATE
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    pieces = []
    for split, share in (("train", 0.75), ("train-kokoro", 0.25)):
        corpus = Corpus(args.corpus, split)
        voices = [
            line.split("\t")[2] for line in (args.corpus / f"{split}.tsv").read_text().splitlines()
        ]
        pieces += pick(corpus, voices, SECONDS * share)
    pause = np.zeros(int(PAUSE_S * RATE), np.float32)
    joined = np.concatenate([part for piece in pieces for part in (piece, pause)])
    write_opus(joined.astype(np.float32), args.output)
    print(
        f"{args.output}: {len(pieces)} utterances, {len(joined) / RATE:.1f} s, "
        f"{args.output.stat().st_size // 1024} KB"
    )


if __name__ == "__main__":
    main()
