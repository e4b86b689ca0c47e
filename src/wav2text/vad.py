"""Speech probability every 32 ms with Silero VAD, streamed block by block.

Silero's sequence ONNX model (shipped in the `silero-vad` package) scores up to 512 frames
in one onnxruntime call, so its cost is about a thousandth of real time. The package's own
helpers take a whole array and reset the model's state per call; this module carries the
LSTM state and the 64-sample context across blocks instead, so arbitrarily long streams are
scored exactly as one array would be, with bounded memory. The package is located without
importing it: its `__init__` imports torch and sets torch's global thread count to 1.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from .errors import Fix, ModelLoadError
from .rate import RESAMPLE_QUALITY

VAD_RATE = 16000  # the rate Silero's sequence model is exported for
SPEECH_PROBABILITY = 0.5  # a frame at least this likely holds speech (cuts, live partials)
FRAME_SAMPLES = 512  # 32 ms at 16 kHz: one probability per frame
CONTEXT_SAMPLES = 64  # the previous frame's tail the model sees in front of each frame
FRAME_S = FRAME_SAMPLES / VAD_RATE
_FRAMES_PER_CALL = 512  # ~16 s of audio per onnxruntime call
_STATE_SHAPE = (1, 1, 128)
_MODEL_FILE = "silero_vad_16k_sequence.onnx"


def speech_probabilities(
    blocks: Iterable[np.ndarray], rate: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each mono block at `rate`: (the block, speech probabilities of the VAD frames
    completed by it). A final part frame is scored as if padded with silence."""
    scorer = _Scorer(_session())
    resampler = (
        None
        if rate == VAD_RATE
        else soxr.ResampleStream(rate, VAD_RATE, 1, "float32", RESAMPLE_QUALITY)
    )
    for block in blocks:
        at_vad_rate = resampler.resample_chunk(block) if resampler else block
        yield block, scorer.score(at_vad_rate)
    tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True) if resampler else None
    yield np.zeros(0, np.float32), scorer.finish(tail)


class _Scorer:
    def __init__(self, session: Any) -> None:
        self._session = session
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)
        self._h = np.zeros(_STATE_SHAPE, np.float32)
        self._c = np.zeros(_STATE_SHAPE, np.float32)

    def score(self, samples: np.ndarray) -> np.ndarray:
        data = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        whole = len(data) // FRAME_SAMPLES * FRAME_SAMPLES
        self._pending = data[whole:]
        frames = data[:whole].reshape(-1, FRAME_SAMPLES)
        parts = [
            self._run(frames[i : i + _FRAMES_PER_CALL])
            for i in range(0, len(frames), _FRAMES_PER_CALL)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def finish(self, tail: np.ndarray | None) -> np.ndarray:
        probs = self.score(tail) if tail is not None else np.zeros(0, np.float32)
        if not len(self._pending):
            return probs
        last = np.zeros(FRAME_SAMPLES, np.float32)
        last[: len(self._pending)] = self._pending
        self._pending = np.zeros(0, np.float32)
        return np.concatenate([probs, self._run(last[None])])

    def _run(self, frames: np.ndarray) -> np.ndarray:
        contexts = np.concatenate([self._context[None], frames[:-1, -CONTEXT_SAMPLES:]])
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        probs, self._h, self._c = self._session.run(
            ["speech_probs", "hn", "cn"],
            {"input": np.concatenate([contexts, frames], axis=1), "h": self._h, "c": self._c},
        )
        return np.asarray(probs, np.float32).reshape(-1)


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise ModelLoadError(
            "voice activity detection needs onnxruntime, which is not installed", _INSTALL_VAD
        ) from err
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # the model is tiny; threads would only contend
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / _MODEL_FILE
        if path.is_file():
            return path
    raise ModelLoadError(f"Silero VAD's {_MODEL_FILE} was not found", _INSTALL_VAD)


_INSTALL = "pip install onnxruntime 'silero-vad>=6.2.3' (wav2text depends on both)"
_INSTALL_VAD = Fix(
    f"{_INSTALL}, or transcribe with segmentation='window'",
    f"{_INSTALL}, or add --segmentation window",
    f"the server's operator must {_INSTALL}",
)
