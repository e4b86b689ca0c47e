"""Arrays and tensors as audio: shape (n,), (channels, n) or (n, channels), integer PCM
or floating point, scaled to float32 blocks of shape (n, channels)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import InvalidAudioError

BLOCK_SAMPLES = 1 << 16  # samples per channel handed on at a time (~4 s at 16 kHz)


MAX_ARRAY_CHANNELS = 32  # the array axis no longer than this is the channel axis


_INT_SCALE = {np.dtype(np.int8): 2**7, np.dtype(np.int16): 2**15, np.dtype(np.int32): 2**31}


def is_array(source: object) -> bool:
    return isinstance(source, np.ndarray) or type(source).__module__.startswith("torch")


def to_numpy(source: Any) -> np.ndarray:
    if isinstance(source, np.ndarray):
        return source
    if getattr(getattr(source, "device", None), "type", None) == "meta":
        raise InvalidAudioError(
            "a tensor on the 'meta' device holds no samples; pass one with its data"
        )
    try:
        tensor = source.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype.itemsize < 4:
            tensor = tensor.float()  # numpy has no bfloat16
        return np.asarray(tensor.numpy())
    except (AttributeError, TypeError) as err:
        raise InvalidAudioError(f"cannot read samples from {type(source).__name__}: {err}") from err


def frames_by_channels(array: np.ndarray) -> np.ndarray:
    """Shape (n,), (channels, n) or (n, channels) -> (n, channels).

    The rule: a 2-D array's channel axis is its shorter axis, and it must hold at most
    MAX_ARRAY_CHANNELS; a square array is ambiguous and rejected.
    """
    if array.dtype.kind not in "iuf":
        raise InvalidAudioError(
            f"samples must be integer PCM or floating point, got dtype {array.dtype}"
        )
    if array.ndim == 1:
        return array[:, None]
    if array.ndim != 2:
        raise InvalidAudioError(
            f"audio arrays must be 1-D (n,) or 2-D (channels, n) / (n, channels), got shape "
            f"{array.shape}; for a batch, call transcribe once per item"
        )
    rows, cols = array.shape
    if min(rows, cols) == 0:
        raise InvalidAudioError(
            f"an array of shape {array.shape} holds no samples or no channels; pass "
            "(n,) mono or (channels, n) / (n, channels) with both axes non-empty"
        )
    if rows == cols or min(rows, cols) > MAX_ARRAY_CHANNELS:
        raise InvalidAudioError(
            f"cannot tell the channel axis of shape {array.shape}: the channel axis must be "
            f"the shorter one and hold at most {MAX_ARRAY_CHANNELS} channels; reshape to "
            "(channels, n) or pass a 1-D mono array"
        )
    return array.T if rows < cols else array


def array_blocks(samples: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(samples), BLOCK_SAMPLES):
        yield _scale_to_float(samples[start : start + BLOCK_SAMPLES])


def _scale_to_float(block: np.ndarray) -> np.ndarray:
    if block.dtype.kind == "f":
        return block.astype(np.float32, copy=False)
    if block.dtype == np.uint8:
        return (block.astype(np.float32) - 128.0) / 128.0
    scale = _INT_SCALE.get(block.dtype)
    if scale is None:
        raise InvalidAudioError(
            f"integer samples must be uint8, int8, int16 or int32, got {block.dtype}; "
            "convert to float32 in [-1, 1] first"
        )
    return block.astype(np.float32) / np.float32(scale)
