"""A forward pass that raises on one input fails that input alone, and the run goes on: in
transcribe_many, in the local batch runner, and on Ray."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import ray

from conftest import noisy_tone
from tiny_models import make_model
from wav2text import ModelOptions, TranscribeOptions, Transcriber, passes
from wav2text.batch import Sink, run_batch
from wav2text.cluster import RayOptions, TranscribeWorker, drive, start_workers
from wav2text.model import CTCModel
from wav2text.passes import Decision, Mode
from wav2text.segments import Piece
from wav_files import write_s16_wav

RATE = 16000
SECONDS = [1.0, 1.3, 1.6, 1.9]  # each input one window at the model's rate: its own length
POISONED = 2  # the input whose samples make the model raise
# Every input in one forward pass (a model with an attention mask batches unequal lengths).
OPTIONS = TranscribeOptions(segmentation="window", batch_size=4)
MESSAGE = "CUDA out of memory (simulated on one input)"


def poison(transcriber: Transcriber, n_samples: int) -> list[int]:
    """Make the model raise on any batch holding an input of n_samples; the sizes of the
    batches it ran are returned (appended as it runs)."""
    model = transcriber.model
    forward = model.log_probs_batch
    sizes: list[int] = []

    def log_probs_batch(
        batch: Sequence[np.ndarray], language: str | None = None
    ) -> list[np.ndarray]:
        sizes.append(len(batch))
        if any(len(x) == n_samples for x in batch):
            raise RuntimeError(MESSAGE)
        return forward(batch, language)

    model.log_probs_batch = log_probs_batch  # type: ignore[method-assign]
    return sizes


@pytest.fixture(scope="module")
def masked_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("masked"), attention_mask=True)


@pytest.fixture()
def transcriber(masked_dir: Path) -> Transcriber:
    return Transcriber(str(masked_dir))


@pytest.fixture()
def paths(tmp_path: Path) -> list[str]:
    names = []
    for i, seconds in enumerate(SECONDS):
        pcm = (noisy_tone(seconds, RATE, seed=i) * 20000).astype(np.int16)
        names.append(str(write_s16_wav(tmp_path / f"clip{i}.wav", [pcm], RATE)))
    return names


def n_samples(index: int) -> int:
    return round(SECONDS[index] * RATE)


def test_transcribe_many_fails_only_the_input_that_raised(
    transcriber: Transcriber, paths: list[str]
) -> None:
    expected = [transcriber.transcribe(p, OPTIONS).text for p in paths]
    sizes = poison(transcriber, n_samples(POISONED))
    outcomes = list(transcriber.transcribe_many(paths, OPTIONS))
    failed = outcomes[POISONED]
    assert isinstance(failed, RuntimeError) and str(failed) == MESSAGE
    for i, outcome in enumerate(outcomes):
        if i != POISONED:
            assert not isinstance(outcome, Exception) and outcome.text == expected[i]
    assert sizes[0] == len(paths)  # they did share one pass before it was retried


def test_a_failed_input_takes_no_more_pieces(transcriber: Transcriber, tmp_path: Path) -> None:
    """Its first window raises; its other windows are never run."""
    pcm = (noisy_tone(20.0, RATE, seed=9) * 20000).astype(np.int16)
    long = str(write_s16_wav(tmp_path / "long.wav", [pcm], RATE))
    options = TranscribeOptions(segmentation="window", chunk_length_s=4, stride_length_s=1)
    window = transcriber.window_plan(options).window_samples
    sizes = poison(transcriber, window)
    (outcome,) = transcriber.transcribe_many([long], options)
    assert isinstance(outcome, RuntimeError)
    assert len(sizes) <= 4  # one lookahead group at most, not the file's 6 windows


def test_negative_control_without_the_retry_the_whole_batch_fails(
    transcriber: Transcriber, paths: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tie the error to the whole pass instead of retrying piece by piece: every input of
    the batch fails, which the first test would catch."""

    def forward(pieces: list[Piece], model: CTCModel, mode: Mode) -> list[Decision | Exception]:
        try:
            outputs = model.log_probs_batch([p.samples for p in pieces])
        except Exception as err:
            return [err] * len(pieces)
        return [mode.decode(o) for o in outputs]

    monkeypatch.setattr(passes, "forward", forward)
    poison(transcriber, n_samples(POISONED))
    outcomes = list(transcriber.transcribe_many(paths, OPTIONS))
    assert all(isinstance(o, RuntimeError) for o in outcomes)


def test_the_local_batch_runner_goes_on(
    transcriber: Transcriber, paths: list[str], tmp_path: Path
) -> None:
    poison(transcriber, n_samples(POISONED))
    out = tmp_path / "out"
    failures = run_batch(transcriber, paths, OPTIONS, ["txt"], out, report=lambda _: None)
    assert [f.input for f in failures] == [paths[POISONED]]
    assert MESSAGE in failures[0].reason
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"clip{i}.txt" for i in range(len(paths)) if i != POISONED]


@pytest.fixture()
def cluster() -> Iterator[None]:
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_on_ray_the_input_fails_and_the_worker_lives(
    cluster: None, masked_dir: Path, paths: list[str], tmp_path: Path
) -> None:
    poisoned_length = n_samples(POISONED)

    class Poisoned(TranscribeWorker):  # defined here: Ray ships it to the workers by value
        def __init__(self, model: ModelOptions) -> None:
            super().__init__(model)
            forward = self.transcriber.model.log_probs_batch

            def log_probs_batch(
                batch: Sequence[np.ndarray], language: str | None = None
            ) -> list[np.ndarray]:
                if any(len(x) == poisoned_length for x in batch):
                    raise RuntimeError(MESSAGE)
                return forward(batch, language)

            self.transcriber.model.log_probs_batch = log_probs_batch  # type: ignore[method-assign]

    out = tmp_path / "ray"
    actors = start_workers(ModelOptions(str(masked_dir)), RayOptions(workers=1), Poisoned)
    sink = Sink(["txt"], out, sys.stdout, len(paths))
    drive(actors, paths, OPTIONS, len(paths), sink)  # all four in one task, one batch
    failures = sink.close(lambda _line: None)
    assert [f.input for f in failures] == [paths[POISONED]] and MESSAGE in failures[0].reason
    assert len(list(out.iterdir())) == len(paths) - 1
