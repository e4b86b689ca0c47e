"""A batch on every core: worker processes give the same outcomes, in the same order, as
one process, errors keep their wording per surface, and the CLI chooses workers only for
batches that repay them."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wav2text import AudioDecodeError, ModelOptions, OptionsError, Transcriber, parallel
from wav2text.batch import AUTO_MIN_BYTES, AUTO_MIN_FILES, CORES_PER_PROCESS, batch_workers
from wav2text.cli import main
from wav2text.cores import suggested_workers, usable_cores
from wav2text.results import Transcript


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, speech_wav: Path) -> list[Path]:
    folder = tmp_path_factory.mktemp("parallel")
    files = []
    for i in range(5):
        files.append(folder / f"clip{i}.wav")
        shutil.copy(speech_wav, files[-1])
    broken = folder / "broken.wav"
    broken.write_bytes(b"RIFF and then nothing like a wave file" * 10)
    return [*files[:2], broken, *files[2:]]


@pytest.fixture(scope="module")
def demo() -> Transcriber:
    return Transcriber(ModelOptions("wav2text:demo-en", threads=1))


def test_workers_give_the_outcomes_of_one_process_in_order(
    demo: Transcriber, inputs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spawned workers (this test process has other tests' threads, so it never forks). This
    process is slowed down (1 s an input) so that the worker, once it has loaded the model,
    takes inputs too: both kinds of outcome are compared."""
    monkeypatch.setattr(parallel, "start_method", lambda *_: "spawn")
    alone = list(demo.transcribe_many(inputs))
    here = []
    original = demo.transcribe_many

    def slow(sources: list[Path], options: object = None, workers: int = 1) -> object:
        if workers == 1:
            here.append(sources[0])
            time.sleep(1.0)
        return original(sources, options, workers)  # type: ignore[arg-type]

    monkeypatch.setattr(demo, "transcribe_many", slow)
    together = list(original(inputs * 3, workers=2))
    assert 0 < len(here) < len(inputs) * 3  # some here, the rest in the worker
    assert len(together) == len(inputs) * 3
    alone *= 3
    for one, many in zip(alone, together, strict=True):
        if isinstance(one, Transcript):
            assert isinstance(many, Transcript)
            assert many.text == one.text and many.words == one.words
        else:
            assert type(many) is type(one) is AudioDecodeError
            # the fix per surface crossed the process boundary
            assert many.worded("cli") == one.worded("cli") != many.worded("python")  # type: ignore[union-attr]


FORKED = """
import sys
from wav2text import ModelOptions, Transcriber, parallel
demo = Transcriber(ModelOptions("wav2text:demo-en", threads=1))
inputs = sys.argv[1:] * 3
alone = list(demo.transcribe_many(inputs))
print(parallel.start_method())
together = list(demo.transcribe_many(inputs, workers=3))
same = [
    (a.text, a.words) == (b.text, b.words) if hasattr(a, "text")
    else type(a) is type(b) and a.worded("cli") == b.worded("cli")
    for a, b in zip(alone, together, strict=True)
]
print(len(same), all(same), sum(hasattr(a, "text") for a in together))
"""


def test_forked_workers_give_the_outcomes_of_one_process(inputs: list[Path]) -> None:
    """In a fresh process (which forks: the CLI's case), outcomes equal one process's."""
    done = subprocess.run([sys.executable, "-c", FORKED, *map(str, inputs)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    method, counts = done.stdout.split("\n")[:2]
    assert method == "fork"
    assert counts == f"{len(inputs) * 3} True {(len(inputs) - 1) * 3}"


def test_workers_take_paths_only(demo: Transcriber, speech_wav: Path) -> None:
    with pytest.raises(OptionsError, match="by path"):
        list(demo.transcribe_many([speech_wav.read_bytes()], workers=2))


def test_the_cli_writes_the_same_outputs_with_workers(inputs: list[Path], tmp_path: Path) -> None:
    names = [str(path) for path in inputs]
    for workers in ("1", "2"):
        code = main(["transcribe", *names, "-m", "wav2text:demo-en", "-f", "json,srt",
                     "-o", str(tmp_path / workers), "--workers", workers])  # fmt: skip
        assert code == 1  # the broken input failed, the rest were written
    one = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert one == sorted(p.name for p in (tmp_path / "2").iterdir()) and len(one) == 10
    for name in one:
        assert (tmp_path / "1" / name).read_text() == (tmp_path / "2" / name).read_text()


def test_forked_workers_serve_any_batch_of_two_files_or_more(
    demo: Transcriber, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork starts in milliseconds: this process and one worker per core, whatever the
    batch's size (as memory allows)."""
    monkeypatch.setattr(parallel, "start_method", lambda *_: "fork")
    names = []
    for i in range(3):
        names.append(str(tmp_path / f"s{i}.wav"))
        Path(names[-1]).write_bytes(bytes(1000))
    expected = min(suggested_workers(demo.model) + 1, usable_cores() // CORES_PER_PROCESS + 1)
    assert batch_workers(names, demo.model) == min(expected, 3)
    assert batch_workers(names[:1], demo.model) == 1


def test_a_batch_started_beside_other_threads_spawns_its_workers() -> None:
    """A fork copies only the calling thread: a lock another thread holds stays held in the
    child. So a batch started from a thread, or while another thread works, spawns."""
    chosen: list[str] = []
    worker = threading.Thread(target=lambda: chosen.append(parallel.start_method()))
    worker.start()
    worker.join()
    release = threading.Event()
    busy = threading.Thread(target=release.wait, daemon=True)  # a daemon holds locks too
    busy.start()
    try:
        chosen.append(parallel.start_method())
    finally:
        release.set()
        busy.join()
    assert chosen == ["spawn", "spawn"]
    assert parallel.start_method("openvino") == "spawn"  # TBB's pool is not fork-safe
    alone = "from wav2text import parallel; print(parallel.start_method())"
    done = subprocess.run([sys.executable, "-c", alone], capture_output=True, text=True)
    assert done.stdout.strip() == "fork", done.stderr  # the control: a fresh process forks
    hatch = {**os.environ, parallel.START_METHOD_VARIABLE: "spawn"}
    done = subprocess.run([sys.executable, "-c", alone], capture_output=True, text=True, env=hatch)
    assert done.stdout.strip() == "spawn", done.stderr  # the user's escape hatch


GARBAGE_THEN_FORK = """
import contextlib, gc, multiprocessing, sys
import av, numpy as np
from wav2text.parallel import forking

def garbage_with_an_ffmpeg_thread_pool() -> None:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.int16), format="s16", layout="mono")
    frame.sample_rate = 16000
    resampler.resample(frame)  # its filter graph starts FFmpeg's threads
    cycle = [resampler]
    cycle.append(cycle)  # freed only by the cyclic collector

gc.disable()
garbage_with_an_ffmpeg_thread_pool()
with forking() if sys.argv[1] == "frozen" else contextlib.nullcontext():
    child = multiprocessing.get_context("fork").Process(target=gc.collect)
    child.start()
child.join(15)
print("hung" if child.is_alive() else f"exited {child.exitcode}")
child.kill()
"""


@pytest.mark.skipif(usable_cores() < 2, reason="FFmpeg starts no thread pool on one core")
def test_a_forked_worker_never_frees_what_its_parent_left_as_garbage() -> None:
    """What hung a forked batch worker: the worker's collector freed the parent's garbage,
    a PyAV filter graph whose FFmpeg threads a fork does not copy."""
    outcomes = {}
    for guard in ("frozen", "plain"):
        done = subprocess.run([sys.executable, "-c", GARBAGE_THEN_FORK, guard],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        outcomes[guard] = done.stdout.strip()
    assert outcomes == {"frozen": "exited 0", "plain": "hung"}  # plain: the control


def test_spawned_workers_serve_only_batches_that_repay_their_start(
    demo: Transcriber, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "start_method", lambda *_: "spawn")
    small = []
    for i in range(AUTO_MIN_FILES):
        small.append(tmp_path / f"s{i}.wav")
        small[-1].write_bytes(bytes(1000))
    assert batch_workers([str(p) for p in small], demo.model) == 1  # too little audio
    big = tmp_path / "big.wav"
    big.write_bytes(bytes(AUTO_MIN_BYTES))
    names = [str(p) for p in [*small, big]]
    per_cores = max(1, usable_cores() // CORES_PER_PROCESS)
    expected = min(suggested_workers(demo.model), per_cores, len(names))
    assert batch_workers(names, demo.model) == expected
    assert batch_workers([*names[:2], str(big)], demo.model) == 1  # too few files


def test_wavtexts_own_numpy_products_run_on_one_blas_thread(tiny_dir: Path) -> None:
    """Idle BLAS threads spin between wav2text's small matrix products: with two, a
    transcription took twice the CPU time in the same wall time, and a second worker
    process had no core to run on. Only wav2text's calls are held: the caller's setting
    is the same before and after."""
    script = (
        "import sys, numpy, threadpoolctl\n"
        "def blas(): return [i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['user_api'] == 'blas']\n"
        "from wav2text import ModelOptions, Transcriber\n"
        "model = Transcriber(ModelOptions(sys.argv[1])).model\n"
        "extract, during = model.feature_extractor, []\n"
        "def recorded(*args, **kwargs):\n"
        "    during.extend(blas())\n"
        "    return extract(*args, **kwargs)\n"
        "model.feature_extractor = recorded\n"
        "before = blas()\n"
        "model.log_probs(numpy.zeros(16000, numpy.float32))\n"
        "print((before, during, blas()))\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_dir)], env=env, capture_output=True, text=True
    )
    before, during, after = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert before and set(before) == set(after) == {2}, done.stderr  # the caller's
    assert set(during) == {1}
