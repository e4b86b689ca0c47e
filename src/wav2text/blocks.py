"""Streams of sample blocks passed through: counted, bounded in length and time, reported."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .errors import AudioTooLongError, Fix, TimeLimitError


class SampleCounter:
    """Passes mono blocks through, counting samples and the peak (known at the end)."""

    def __init__(self, blocks: Iterable[np.ndarray]) -> None:
        self._blocks = blocks
        self.count = 0
        self.peak = 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        for block in self._blocks:
            self.count += len(block)
            if len(block):
                self.peak = max(self.peak, float(np.abs(block).max()))
            yield block


def bounded(
    blocks: Iterable[np.ndarray],
    rate: int,
    max_seconds: float | None,
    time_limit_s: float | None,
    declared_s: float | None = None,
) -> Iterator[np.ndarray]:
    """Pass blocks through, but stop with a clear error past `max_seconds` of audio (checked
    against what a container declares first, then as samples decode, so neither a lying
    header nor a compression bomb costs more) or past `time_limit_s` of wall time."""
    if max_seconds is not None and declared_s is not None and declared_s > max_seconds:
        raise AudioTooLongError(_too_long(f"declares {declared_s:.0f} s", max_seconds))
    started, count = time.monotonic(), 0
    for block in blocks:
        count += len(block)
        if max_seconds is not None and count > max_seconds * rate:
            raise AudioTooLongError(_too_long(f"goes on past {max_seconds:g} s", max_seconds))
        if time_limit_s is not None and time.monotonic() - started > time_limit_s:
            raise TimeLimitError(
                f"transcribing took longer than the {time_limit_s:g} s allowed "
                f"({count / rate:.0f} s of audio read)",
                Fix(
                    "send shorter audio, or raise time_limit_s",
                    "send shorter audio, or raise the limit",
                    "send shorter audio, or, where the server takes jobs, submit it as one "
                    "(POST /v1/jobs): jobs have no such limit",
                ),
            )
        yield block


def _too_long(found: str, limit: float) -> str:
    return (
        f"the audio {found}, more than the {limit:g} s allowed; send a shorter file, cut it, "
        "or raise the limit (max_duration_s, server: --max-audio-s)"
    )


def reported(
    blocks: Iterable[np.ndarray],
    rate: int,
    total_s: float | None,
    progress: Callable[[float, float | None], None],
) -> Iterator[np.ndarray]:
    """Pass blocks through, telling `progress` the seconds read so far."""
    count = 0
    for block in blocks:
        count += len(block)
        progress(count / rate, total_s)
        yield block
