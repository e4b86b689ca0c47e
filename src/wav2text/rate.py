"""The rate policy: audio reaches the model at the rate its feature extractor declares."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import soxr

RESAMPLE_QUALITY = "HQ"  # soxr high quality: 20-bit, flat to 91 % of Nyquist


def resample_stream(
    blocks: Iterable[np.ndarray], from_rate: int, to_rate: int
) -> Iterator[np.ndarray]:
    """Resample mono float32 blocks with soxr's streaming resampler (no-op at equal rates)."""
    if from_rate == to_rate:
        yield from blocks
        return
    stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    for block in blocks:
        out = stream.resample_chunk(block)
        if len(out):
            yield out
    tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if len(tail):
        yield tail
