"""How many copies of the model run side by side (a server's replicas, a batch's worker
processes), and the threads each gets: on a CPU one per core (a small model's forward pass
does not spread over cores as well as two passes run side by side do:
benchmarks/bench_workers.py, benchmarks/bench_batch.py), as memory allows; one on a GPU."""

from __future__ import annotations

import os

from .model import CTCModel

MEMORY_SHARE = 0.5  # of the memory available, what replicas may take
REPLICA_OVERHEAD = 3  # a replica's memory over its weights (activations, buffers, LM)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def suggested_workers(model: CTCModel, cores: int | None = None) -> int:
    if model.device.type != "cpu":
        return 1  # one GPU: passes queue on it anyway
    cores = cores or usable_cores()
    weights = sum(p.numel() * p.element_size() for p in model.model.parameters())
    available = _available_memory()
    if available is None or weights == 0:
        return cores
    fit = int(available * MEMORY_SHARE // (weights * REPLICA_OVERHEAD))
    return max(1, min(cores, fit))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    return max(1, (cores or usable_cores()) // workers)


def torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)  # process-wide: every replica's passes use this many


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
