"""Make src/wav2text/bundled/sphinx-en-us: the part of CMU Sphinx's US-English acoustic model
that the rate estimator's second judge (wav2text.estimation.acoustic) reads.

    pip download pocketsphinx==5.1.1 --no-deps -d /tmp/ps && unzip -q /tmp/ps/*.whl -d /tmp/ps
    python -m training.sphinx_model /tmp/ps/pocketsphinx/model/en-us/en-us

(or with pocketsphinx installed, no argument: its own model directory). Kept: the 42 phone
codebooks (3 feature streams x 128 diagonal Gaussians x 13 dimensions: means and variances,
floored as Sphinx floors them) and the mixture weights of the 126 context-independent senones
(3 states per phone), from the binary `means`, `variances`, `sendump` and `mdef` files. The
context-dependent senones, the dictionary and the language models are not needed.
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "wav2text" / "bundled" / "sphinx-en-us"
VARIANCE_FLOOR = 1e-4  # Sphinx's -varfloor default
# sendump stores each weight as -log_b(p) in one byte, b = 1.0001 ** 1024 (Sphinx's log base
# 1.0001 shifted by SENSCR_SHIFT = 10 bits)
SENDUMP_LOG_BASE = 1024 * np.log(1.0001)
_BYTE_ORDER_MAGIC = 0x11223344


def read_gaussians(path: Path) -> np.ndarray:
    """A Sphinx-3 `means` or `variances` file: codebooks x streams x densities x dims."""
    data = path.read_bytes()
    start = data.index(b"endhdr\n") + len("endhdr\n")
    magic, codebooks, streams, densities = struct.unpack("<4i", data[start : start + 16])
    if magic != _BYTE_ORDER_MAGIC:
        raise ValueError(f"{path}: not a little-endian Sphinx-3 Gaussian file")
    offset = start + 16
    dims = struct.unpack(f"<{streams}i", data[offset : offset + 4 * streams])
    if len(set(dims)) != 1:
        raise ValueError(f"{path}: streams of unequal width {dims} are not supported")
    offset += 4 * streams
    (count,) = struct.unpack("<i", data[offset : offset + 4])
    values = np.frombuffer(data, "<f4", count, offset + 4)
    return values.reshape(codebooks, streams, densities, dims[0])


def read_phones(path: Path) -> tuple[list[str], int]:
    """A binary `mdef`: the context-independent phones and the count of their senones."""
    data = path.read_bytes()
    if data[:4] != b"BMDF":
        raise ValueError(f"{path}: not a binary Sphinx model definition")
    (description,) = struct.unpack("<i", data[8:12])
    offset = 12 + description
    n_ciphone, _n_phone, _n_emit, n_ci_senones = struct.unpack("<4i", data[offset : offset + 16])
    names = data[offset + 40 :].split(b"\0")[:n_ciphone]
    return [name.decode("ascii") for name in names], n_ci_senones


def read_mixture_weights(path: Path, senones: int) -> np.ndarray:
    """A `sendump` (unclustered, 8-bit): log mixture weights, streams x densities x senones,
    of the first `senones` senones."""
    data = path.read_bytes()
    offset = 0
    while True:  # header strings, each after its length, until a zero length
        (length,) = struct.unpack("<i", data[offset : offset + 4])
        offset += 4 + length
        if length == 0:
            break
    if b"cluster_count 0\0" not in data[:offset]:
        raise ValueError(f"{path}: clustered mixture weights are not supported")
    rows, columns = struct.unpack("<2i", data[offset : offset + 8])
    quantised = np.frombuffer(data, np.uint8, offset=offset + 8).reshape(-1, rows, columns)
    return -quantised[:, :, :senones].astype(np.float32) * np.float32(SENDUMP_LOG_BASE)


def extract(model_dir: Path, out: Path = OUT) -> Path:
    phones, ci_senones = read_phones(model_dir / "mdef")
    means = read_gaussians(model_dir / "means")
    variances = np.maximum(read_gaussians(model_dir / "variances"), VARIANCE_FLOOR)
    if means.shape[0] != len(phones) or ci_senones != 3 * len(phones):
        raise ValueError(f"{model_dir}: not a phonetically-tied model of 3-state phones")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ci-senones.npz"
    np.savez_compressed(
        target,
        means=means.astype(np.float32),
        variances=variances.astype(np.float32),
        log_weights=read_mixture_weights(model_dir / "sendump", ci_senones),
        phones=np.array(phones),
    )
    return target


def _default_model_dir() -> Path:
    import pocketsphinx  # type: ignore[import-not-found, unused-ignore]

    return Path(pocketsphinx.get_model_path()) / "en-us" / "en-us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", type=Path, nargs="?", help="a Sphinx en-us model directory")
    args = parser.parse_args()
    print(f"written {extract(args.model_dir or _default_model_dir())}")


if __name__ == "__main__":
    main()
