"""Writing 16-bit mono WAV files block by block (tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def write_s16_wav(path: Path, blocks: Iterable[np.ndarray], rate: int) -> Path:
    """int16 blocks to a mono WAV whose header says `rate`; a long file never sits whole
    in memory."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        for block in blocks:
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
