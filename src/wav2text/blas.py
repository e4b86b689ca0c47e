"""numpy's BLAS on one thread while wav2text multiplies its small matrices (the log-mel
features, the rate judge). Idle OpenBLAS threads spin between such products: with two, a
transcription took twice the CPU time in the same wall time, and a second worker process
found no free core (benchmarks/bench_batch.py). Only wav2text's own calls are held to one
thread; the caller's setting is back after each."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    with _controller().limit(limits=1, user_api="blas"):
        yield


@functools.cache
def _controller() -> Any:
    """The BLAS libraries loaded at the first call (after a model's imports loaded them)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
