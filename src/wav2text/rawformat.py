"""The sample format of headerless PCM, told from the bytes themselves (`--raw auto`).

Sound read in its true format is smooth: each sample is close to the previous one
(lag-1 autocorrelation near 1 for speech and music at any rate). Read in a wrong format,
bytes land in the wrong significance (swapped, misaligned, offset, mis-companded) and the
result is noise-like. Each format is decoded with numpy and scored; the smoothest valid
reading wins. When no reading looks like sound, the user is asked for the format.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import Fix, InvalidAudioError

Decoder = Callable[[bytes], np.ndarray]
HEAD_BYTES = 1 << 18  # bytes examined
# Raw (headerless) PCM sample formats, named as FFmpeg names its raw demuxers.
RAW_FORMATS = ("u8", "s8", "s16le", "s16be", "s24le", "s24be", "s32le", "s32be",
               "f32le", "f32be", "f64le", "f64be", "mulaw", "alaw")  # fmt: skip
MIN_SMOOTHNESS = 0.3
FLOAT_TIE = 0.1
_NUMPY = {"s16le": "<i2", "s16be": ">i2", "s32le": "<i4", "s32be": ">i4",
          "f32le": "<f4", "f32be": ">f4", "f64le": "<f8", "f64be": ">f8"}  # fmt: skip


def detect_raw_format(head: bytes) -> str:
    """The FFmpeg name of the sample format of `head`, or InvalidAudioError if unclear.

    The smoothest reading wins. A reading too wide by a factor sees every other sample
    of the true format: smooth too, but less so, because its samples lie further apart.
    Integers read as floats are implausible (huge or vanishing) and score -1.
    """
    scores = sorted(((smoothness(head, fmt), fmt) for fmt in _DECODERS), reverse=True)
    (best, choice), (second, runner_up) = scores[0], scores[1]
    if best < MIN_SMOOTHNESS:
        raise InvalidAudioError(
            f"could not tell the raw sample format from the bytes (best readings: {choice} "
            f"{best:.2f}, {runner_up} {second:.2f}: none looks like sound)",
            Fix(
                "pass it: raw=RawFormat('s16le') or another format",
                "pass it: --raw s16le or another format",
                "send it: raw=s16le or another format",
            ),
        )
    # only real float audio reads as plausible floats: near the top, a float reading wins
    floats = [fmt for score, fmt in scores if fmt.startswith("f") and score >= best - FLOAT_TIE]
    return floats[0] if floats else choice


def smoothness(head: bytes, fmt: str) -> float:
    """Lag-1 autocorrelation of `head` read as `fmt`; -1 if the reading is invalid."""
    with np.errstate(all="ignore"):
        samples = _DECODERS[fmt](head)
    if len(samples) < 64 or not np.isfinite(samples).all():
        return -1.0
    if fmt.startswith("f") and not _plausible_float(samples):
        return -1.0
    with np.errstate(all="ignore"):
        centred = samples - samples.mean()
        power = float((centred**2).sum())
    if power == 0 or not np.isfinite(power):
        return -1.0
    return float((centred[1:] * centred[:-1]).sum()) / power


def _plausible_float(samples: np.ndarray) -> bool:
    """Float audio sits near [-1, 1]; integers read as floats are huge or vanishingly small."""
    loud = np.abs(samples[samples != 0])
    return bool(len(loud)) and float(loud.max()) <= 64 and float(np.median(loud)) > 1e-7


def _numpy(fmt: str) -> Decoder:
    dtype = np.dtype(_NUMPY[fmt])

    def decode(data: bytes) -> np.ndarray:
        usable = len(data) // dtype.itemsize * dtype.itemsize
        return np.frombuffer(data[:usable], dtype).astype(np.float64)

    return decode


def _s24(order: str) -> Decoder:
    def decode(data: bytes) -> np.ndarray:
        raw = np.frombuffer(data[: len(data) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        low, mid, high = (raw[:, 0], raw[:, 1], raw[:, 2]) if order == "le" else raw.T[::-1]
        value = low | (mid << 8) | (high << 16)
        return np.where(value >= 1 << 23, value - (1 << 24), value).astype(np.float64)

    return decode


def _mulaw(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, np.uint8)
    magnitude = ((((u & 0x0F).astype(np.int32) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.float64)


def _alaw(data: bytes) -> np.ndarray:
    a = np.frombuffer(data, np.uint8) ^ 0x55
    exponent = ((a >> 4) & 0x07).astype(np.int32)
    mantissa = (a & 0x0F).astype(np.int32)
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.float64)


_DECODERS = {
    "u8": lambda data: np.frombuffer(data, np.uint8).astype(np.float64) - 128,
    "s8": lambda data: np.frombuffer(data, np.int8).astype(np.float64),
    **{fmt: _numpy(fmt) for fmt in _NUMPY},
    "s24le": _s24("le"),
    "s24be": _s24("be"),
    "mulaw": _mulaw,
    "alaw": _alaw,
}


PAIR_LIKENESS = 0.8  # pairs this much more alike within than across: stereo (mono: 0.99-1.03)
CHANNEL_LAG_MARGIN = 0.1  # every other sample likelier than the next by this: stereo


def detect_channels(head: bytes, fmt: str) -> int:
    """1 or 2: whether the samples are one channel, or two interleaved. Two channels
    alike (one voice, two microphones) make pairs of neighbours far more alike than the
    next pair's first sample; two unlike channels make every other sample likelier than
    the next. Mono shows neither. InvalidAudioError when the reading cannot tell."""
    with np.errstate(all="ignore"):
        samples = _DECODERS[fmt](head)
    samples = samples[: len(samples) // 2 * 2]
    if len(samples) < 256 or not np.isfinite(samples).all():
        raise InvalidAudioError(
            "too little audio to tell mono from stereo",
            Fix(
                "give the channel count: RawFormat(..., channels=N)",
                "give the channel count: --channels N",
                "give the channel count: the form field channels=N",
            ),
        )
    within = float(np.abs(samples[0::2] - samples[1::2]).mean())
    across = float(np.abs(samples[1:-1:2] - samples[2::2]).mean())
    if across > 0 and within < PAIR_LIKENESS * across:
        return 2
    if _lag(samples, 2) > _lag(samples, 1) + CHANNEL_LAG_MARGIN:
        return 2
    return 1


def _lag(samples: np.ndarray, k: int) -> float:
    centred = samples - samples.mean()
    power = float((centred**2).sum())
    return float((centred[k:] * centred[:-k]).sum()) / power if power else 0.0


_PAIRED = {"s32le": "<i2", "s32be": ">i2"}  # a 32-bit word can be two 16-bit channels' samples
PAIRED_SMOOTHNESS = 0.5  # both halves this smooth: two 16-bit channels, not one 32-bit


def detect_layout(head: bytes, channels: int | None) -> tuple[str, int]:
    """The sample format and, when not given, the channel count. Interleaved 16-bit
    stereo also reads as smooth 32-bit mono (the high half is one channel): it is stereo
    when both halves of each word are smooth on their own, as a 32-bit sample's low half
    (fine detail, or zeros) never is."""
    fmt = detect_raw_format(head)
    half = _PAIRED.get(fmt)
    if channels is None and half is not None:
        samples = np.frombuffer(head[: len(head) // 4 * 4], half)
        pairs = [samples[k::2].tobytes() for k in (0, 1)]
        narrow = "s16le" if half == "<i2" else "s16be"
        if all(smoothness(p, narrow) > PAIRED_SMOOTHNESS for p in pairs):
            return narrow, 2
    return fmt, channels or detect_channels(head, fmt)


def sample_bytes(sample_format: str) -> int:
    """Bytes one sample of a raw format takes (mu-law and A-law: one)."""
    if sample_format not in RAW_FORMATS:
        raise ValueError(f"not a raw sample format: {sample_format!r}")
    if sample_format in ("u8", "s8", "mulaw", "alaw"):
        return 1
    return int(sample_format[1:3]) // 8
