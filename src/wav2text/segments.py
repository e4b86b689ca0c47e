"""Long audio as overlapping model windows, and the frames each window contributes.

Windows start on multiples of the model's frame hop (samples per logit frame), so frame j
of a window starting at sample s is frame s / hop + j of the whole file. Each window keeps
its frames except `stride` frames of context on each side (none before the first window,
none after the last), so the kept frames tile the file exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import OptionsError


@dataclass(frozen=True)
class Window:
    samples: np.ndarray
    first_frame: int  # index in the whole file of the window's frame 0
    is_first: bool
    is_last: bool


@dataclass(frozen=True)
class WindowPlan:
    window_samples: int  # a multiple of hop
    step_samples: int  # a multiple of hop
    stride_frames: int


def plan_windows(
    rate: int, hop: int, frames_for: Callable[[int], int], chunk_s: float, stride_s: float
) -> WindowPlan:
    """Window geometry; `frames_for(n)` is how many frames the model makes of n samples."""
    window = max(1, round(chunk_s * rate / hop)) * hop
    stride_frames = max(1, round(stride_s * rate / hop))
    step_frames = frames_for(window) - 2 * stride_frames
    if step_frames < 1:
        raise OptionsError(
            f"a {chunk_s} s chunk leaves no frames between its {stride_s} s strides; "
            "use a chunk longer than twice the stride, e.g. chunk 30 s with stride 5 s"
        )
    return WindowPlan(window, step_frames * hop, stride_frames)


def windows(blocks: Iterable[np.ndarray], plan: WindowPlan, hop: int) -> Iterator[Window]:
    """Cut a stream of mono blocks into windows, holding at most one window plus a block."""
    buffer = np.zeros(0, dtype=np.float32)
    start = 0  # sample index of buffer[0]
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while len(buffer) > plan.window_samples:
            yield Window(buffer[: plan.window_samples], start // hop, start == 0, False)
            buffer = buffer[plan.step_samples :]
            start += plan.step_samples
    if len(buffer) or start == 0:
        yield Window(buffer, start // hop, start == 0, True)


def kept_frames(window: Window, n_frames: int, stride_frames: int) -> slice:
    """The frames of a window's logits that belong in the stitched whole."""
    left = 0 if window.is_first else stride_frames
    right = n_frames if window.is_last else n_frames - stride_frames
    return slice(left, right)
