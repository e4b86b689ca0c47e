"""One input on its way through the pipeline: a job owns its pieces' frames and its outcome.

The pipeline's stream carries `(job, piece)` for each piece the model runs on and
`(job, END)` once an input has no more; a job that fails keeps its error, takes no more
pieces, and its error is that input's outcome while the others carry on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from .blocks import SampleCounter
from .estimation.decide import RateDecision
from .options import TranscribeOptions
from .segments import Piece


class Frames(Protocol):
    """Where a job's frame decisions gather (wav2text.segments: Stitcher, LogProbStitcher)."""

    heard: int  # samples up to the end of the last piece added

    def add(self, piece: Piece, decision: Any) -> None: ...


class _End:
    def __repr__(self) -> str:
        return "END"


END: Final = _End()  # in the stream: this job has no more pieces
Item = Piece | _End


@dataclass(eq=False)
class Job:
    index: int  # the input's position among those transcribed together
    stitcher: Frames  # frame decisions gathered so far
    options: TranscribeOptions  # how this input is read and run
    rate: RateDecision | None = None  # set once the input is opened and its rate decided
    counter: SampleCounter | None = None  # the mono samples read (count, peak)
    error: Exception | None = field(default=None)  # what stopped it, if anything did

    @property
    def failed(self) -> bool:
        return self.error is not None

    def fail(self, error: Exception) -> None:
        """Record the first error; later ones follow from it."""
        if self.error is None:
            self.error = error
