"""int8 for the exported runtimes (quantize="int8" with runtime "openvino" or "onnxruntime"):
where the CPU has int8 dot-product units, and how OpenVINO's export is quantised.

OpenVINO: NNCF's post-training quantisation (weights and activations int8, ranges calibrated
on speech). The speech is packaged with wav2text (bundled/calibration-en.ogg, 46 s of the
training recipe's synthetic voices: training/calibration.py), so an export is the same on
every machine. An int8 export whose greedy letters differ from float32's on that speech on
more than MIN_AGREEMENT of the frames is refused, never used. ONNX Runtime quantises
dynamically (weights int8, activations per batch) and needs no calibration.
"""

from __future__ import annotations

import contextlib
import io
import platform
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import Fix, ModelLoadError

CALIBRATION = Path(__file__).parent / "bundled" / "calibration-en.ogg"
# Part of an int8 export's cache key: bump when quantize_openvino or the calibration changes
RECIPE = "nncf transformer, no smoothquant, conformer conv and ffn1 float; calibration-en 1"
PIECE_S = 4.0  # calibration pieces: the length of a typical VAD segment
MIN_AGREEMENT = 0.97  # frames whose best token int8 must share with float32
# /proc/cpuinfo flags of int8 dot-product instructions: x86 VNNI (AVX-512 or AVX) and AMX,
# Arm's dot product
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")

Batches = list[dict[str, torch.Tensor]]


@cache
def int8_units() -> tuple[str, ...]:
    """The CPU's int8 dot-product instruction sets, as /proc/cpuinfo names them (none where
    it cannot be read: then int8 is refused rather than run slowly)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ("apple-silicon",) if platform.machine() == "arm64" else ()
    flags = set(text.split())
    return tuple(flag for flag in INT8_FLAGS if flag in flags)


def require_int8_units() -> None:
    if not int8_units():
        raise ModelLoadError(
            f"int8 needs a CPU with int8 dot-product instructions ({', '.join(INT8_FLAGS)}), "
            "and this one has none: there int8 would run slower than float32",
            Fix(
                "leave quantize=None (float32), or use dtype='bfloat16' with runtime "
                "'openvino' where the CPU has bf16",
                "leave out --quantize int8, or use --runtime openvino --dtype bfloat16 where "
                "the CPU has bf16",
                "start the server without --quantize int8",
            ),
        )


def calibration_batches(feature_extractor: Any) -> Batches:
    """The packaged speech at the model's rate, in PIECE_S pieces, as feature batches."""
    from .audio import open_audio, to_mono
    from .rate import resample_stream

    rate = int(feature_extractor.sampling_rate)
    audio = open_audio(CALIBRATION)
    assert audio.rate is not None
    samples = np.concatenate(list(resample_stream(to_mono(audio), audio.rate, rate)))
    step = int(PIECE_S * rate)
    pieces = [samples[i : i + step] for i in range(0, len(samples) - step // 2, step)]
    return [
        dict(feature_extractor([piece], sampling_rate=rate, return_tensors="pt"))
        for piece in pieces
    ]


def quantize_openvino(converted: Any, batches: Batches) -> Any:
    """NNCF post-training quantisation of an OpenVINO model, calibrated on `batches`."""
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )

    names = [next(iter(port.get_names())) for port in converted.inputs]
    feeds = [{name: batch[name].numpy() for name in names} for batch in batches]
    progress = io.StringIO()  # NNCF draws progress bars on the terminal: not wav2text's to show
    with contextlib.redirect_stdout(progress), contextlib.redirect_stderr(progress):
        return nncf.quantize(
            converted,
            nncf.Dataset(feeds),
            model_type=nncf.ModelType.TRANSFORMER,  # keeps softmax and layer norms in float
            subset_size=len(feeds),
            # Measured on the bundled model (benchmarks/bench_runtime.py, words vs float32):
            # SmoothQuant, made for LLMs' outlier channels, cost it 5 points on real clips; a
            # conformer's convolution module (GLU, depthwise conv, batch norm) 2 on held-out
            # voices; its first (macaron) feed-forward half 1 (0.990 -> 1.000 on held-out
            # sentences, the slt voice 0.970 -> 0.973, Kokoro voices 0.964 -> 0.976, real
            # clips 0.914 -> 0.926; the second half or attention in float gained nothing).
            # wav2vec2-style models have neither and keep all their int8 compute.
            ignored_scope=nncf.IgnoredScope(
                patterns=[".*conv_module.*", ".*ffn1.*"], validate=False
            ),
            advanced_parameters=AdvancedQuantizationParameters(
                smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1, convolution=-1)
            ),
        )


def check_agreement(
    reference: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    quantized: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    batches: Sequence[dict[str, torch.Tensor]],
) -> float:
    """The share of frames whose best token the int8 model shares with float32; refused
    below MIN_AGREEMENT."""
    same = total = 0
    for batch in batches:
        expected, got = reference(batch).argmax(-1), quantized(batch).argmax(-1)
        same += int((expected == got).sum())
        total += expected.numel()
    agreement = same / max(total, 1)
    if agreement < MIN_AGREEMENT:
        raise ModelLoadError(
            f"int8 changes this model's output too much (it agrees with float32 on "
            f"{agreement:.1%} of the frames of the calibration speech, below "
            f"{MIN_AGREEMENT:.0%}); it is not used",
            Fix(
                "use dtype='bfloat16' instead",
                "use --dtype bfloat16 instead",
                "start the server with --dtype bfloat16 instead",
            ),
        )
    return agreement
