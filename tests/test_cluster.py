"""Batches on Ray: the same outputs as the local runner, and a dying worker loses one input."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from conftest import free_port, noisy_tone
from wav2text import ModelOptions, TranscribeOptions, Transcriber
from wav2text.batch import Sink, run_batch
from wav2text.cluster import (
    DIED,
    RayOptions,
    TranscribeWorker,
    _probe,
    drive,
    run_on_ray,
    start_workers,
)
from wav2text.errors import OptionsError
from wav_files import write_s16_wav

FORMATS = ["txt", "json"]


@pytest.fixture()
def cluster() -> Iterator[None]:
    """A cluster per test: a failed test's workers must not hold CPUs the next one needs,
    and the CLI tests, which start their own, must not find one running."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture()
def inputs(tmp_path: Path) -> list[str]:
    names = []
    for i, (seconds, rate) in enumerate([(1.5, 16000), (0.7, 44100), (2.2, 8000), (1.1, 22050)]):
        pcm = (noisy_tone(seconds, rate, seed=i) * 20000).astype(np.int16)
        names.append(str(write_s16_wav(tmp_path / f"clip{i}.wav", [pcm], rate)))
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio")
    return [*names[:2], str(bad), *names[2:]]


def outputs(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def test_same_outputs_as_the_local_runner(
    cluster: None, tiny_dir: Path, inputs: list[str], tmp_path: Path
) -> None:
    options = TranscribeOptions(batch_size=2)
    local = run_batch(Transcriber(str(tiny_dir)), inputs, options, FORMATS, tmp_path / "local")
    on_ray = run_on_ray(
        ModelOptions(str(tiny_dir)),
        inputs,
        options,
        FORMATS,
        tmp_path / "ray",
        RayOptions(workers=2, files_per_task=2),
    )
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    assert len(outputs(tmp_path / "ray")) == 2 * 4
    assert on_ray == local and [f.input for f in on_ray] == [inputs[2]]


def test_skip_existing_on_ray(
    cluster: None, tiny_dir: Path, inputs: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "o"
    model = ModelOptions(str(tiny_dir))
    run_on_ray(model, inputs, TranscribeOptions(), ["txt"], out, RayOptions(workers=1))
    (out / "clip0.txt").write_text("kept")
    (out / "clip3.txt").unlink()
    said: list[str] = []
    run_on_ray(
        model, inputs, TranscribeOptions(), ["txt"], out, RayOptions(workers=1), said.append, True
    )
    assert (out / "clip0.txt").read_text() == "kept" and (out / "clip3.txt").exists()
    assert said[0] == "wav2text: skipping 3 inputs already transcribed"  # broken.wav: again


def test_an_input_that_kills_its_worker_fails_alone(
    cluster: None, tiny_dir: Path, inputs: list[str], tmp_path: Path
) -> None:
    class DiesOnClip1(TranscribeWorker):  # defined here: Ray ships it to the workers by value
        def run(self, names: list[str], options: TranscribeOptions) -> list:
            if any(n.endswith("clip1.wav") for n in names):
                os._exit(1)  # as an out-of-memory kill would
            return super().run(names, options)

    out = tmp_path / "o"
    actors = start_workers(ModelOptions(str(tiny_dir)), RayOptions(workers=2), DiesOnClip1)
    sink = Sink(["txt"], out, sys.stdout, len(inputs))
    drive(actors, inputs, TranscribeOptions(), 3, sink)
    failed = {f.input: f.reason for f in sink.close(lambda _line: None)}
    assert failed == {inputs[1]: DIED, inputs[2]: failed[inputs[2]]}
    assert "not a readable audio" in failed[inputs[2]]
    assert sorted(p.name for p in out.iterdir()) == ["clip0.txt", "clip2.txt", "clip3.txt"]


def test_cli_on_ray(tiny_dir: Path, inputs: list[str], tmp_path: Path) -> None:
    out = tmp_path / "o"
    command = [sys.executable, "-m", "wav2text.cli", "transcribe", *inputs, "-m", str(tiny_dir)]
    proc = subprocess.run(
        [*command, "--ray", "--workers", "1", "-o", str(out)], capture_output=True, timeout=300
    )
    assert proc.returncode == 1, proc.stderr.decode()  # broken.wav failed, the rest did not
    assert "broken.wav: not a readable audio" in proc.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == [f"clip{i}.txt" for i in range(4)]


def test_no_cluster_at_the_address_is_a_clear_error(tiny_dir: Path, inputs: list[str]) -> None:
    command = [sys.executable, "-m", "wav2text.cli", "transcribe", inputs[0], "-m", str(tiny_dir)]
    out = str(Path(inputs[0]).parent / "o")
    proc = subprocess.run([*command, "--ray", "auto", "-o", out], capture_output=True, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "cannot reach the Ray cluster at auto" in err, err
    assert "Traceback" not in err


def run_one_at(address: str, tiny_dir: Path, inputs: list[str], tmp_path: Path) -> None:
    options = ModelOptions(str(tiny_dir))
    out = tmp_path / "out"
    run_on_ray(options, inputs[:1], TranscribeOptions(), ["txt"], out, RayOptions(address=address))


def test_nothing_listening_at_the_address_fails_at_once(
    tiny_dir: Path, inputs: list[str], tmp_path: Path
) -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(OptionsError, match=f"127.0.0.1:{port}: nothing answers there"):
        run_one_at(f"127.0.0.1:{port}", tiny_dir, inputs, tmp_path)
    assert time.monotonic() - started < 30  # ray.init alone waits minutes here
    assert not ray.is_initialized() and not (tmp_path / "out").exists()


def test_a_real_cluster_passes_the_probe(cluster: None) -> None:
    _probe(ray.get_runtime_context().gcs_address)  # Ray's own GCS answers HTTP/2


@pytest.mark.parametrize("service", ["http", "silent"])
def test_a_service_that_is_not_ray_is_refused_at_once(
    tiny_dir: Path, inputs: list[str], tmp_path: Path, service: str
) -> None:
    """The common slip: the dashboard's address (HTTP) instead of the cluster's."""
    if service == "http":
        server: Any = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), http.server.BaseHTTPRequestHandler
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
    else:  # accepts connections and never says a word
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(
            OptionsError, match=f"127.0.0.1:{port} answers, but not as a Ray cluster"
        ):
            run_one_at(f"127.0.0.1:{port}", tiny_dir, inputs, tmp_path)
    finally:
        if service == "http":
            server.shutdown()
            server.server_close()
        else:
            server.close()
    assert time.monotonic() - started < 30
    assert not ray.is_initialized() and not (tmp_path / "out").exists()
