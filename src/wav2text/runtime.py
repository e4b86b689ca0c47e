"""Where a CTC model's forward pass runs: eager PyTorch, or its export run by ONNX Runtime or
OpenVINO on CPU. Each takes the feature extractor's tensors and gives the logits.

An export is made once per model, runtime and precision (wav2text.exportcache) and checked
against PyTorch when it is made: an export whose float32 logits differ is refused, never used.
ONNX Runtime runs the torch.onnx export (int8: its dynamic quantisation of the weights);
OpenVINO converts the PyTorch model itself (its recommended path: measured faster in bf16 than
reading the ONNX file) and runs it at the precision asked for as its inference hint (int8:
NNCF's static quantisation, wav2text.int8). int8 is offered only where the CPU has int8
dot-product units.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .errors import Fix, ModelLoadError
from .exportcache import cached_export, model_identity
from .int8 import (
    MIN_AGREEMENT,
    RECIPE,
    calibration_batches,
    check_agreement,
    quantize_openvino,
    require_int8_units,
)
from .options import ModelOptions

Inputs = Mapping[str, torch.Tensor]
_PROBE_SECONDS = (2.0, 3.3)  # exported at one length, checked at others (dynamic time axis)
_FP32_TOLERANCE = 1e-3  # largest log-probability difference an fp32 export may show


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Exporters and quantisers log notes (traced branches, pre-processing advice) that say
    nothing about this model's results, which _check measures instead."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


class Forward(Protocol):
    def __call__(self, inputs: Inputs) -> torch.Tensor: ...


class TorchForward:
    """Eager PyTorch; with `autocast`, matrix products in that precision (CPU)."""

    def __init__(self, model: Any, autocast: torch.dtype | None) -> None:
        self.model, self.autocast = model, autocast

    def __call__(self, inputs: Inputs) -> torch.Tensor:
        device = next(self.model.parameters()).device
        dtype = self.autocast or torch.bfloat16
        enabled = self.autocast is not None
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=enabled):
            return self.model(**inputs).logits


class _Logits(torch.nn.Module):
    """The model as a function of positional tensors (what exporters trace)."""

    def __init__(self, model: Any, names: Sequence[str]) -> None:
        super().__init__()
        self.model, self.names = model, tuple(names)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, tensors, strict=True))).logits


class OnnxForward:
    def __init__(self, folder: Path, threads: int | None) -> None:
        import onnxruntime

        settings = onnxruntime.SessionOptions()
        settings.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default (the cores)
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), settings, providers=["CPUExecutionProvider"]
        )
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs: Inputs) -> torch.Tensor:
        feed = {name: inputs[name].numpy() for name in self.names}
        return torch.from_numpy(self.session.run(None, feed)[0])


_OPENVINO_HINTS = {
    "float32": ("f32", "FP32"),
    "bfloat16": ("bf16", "BF16"),
    "float16": ("f16", "FP16"),
}


class OpenVinoForward:
    def __init__(self, source: Path | Any, dtype: str, threads: int | None) -> None:
        """source: an export's folder, or an OpenVINO model in memory."""
        import openvino

        core = openvino.Core()
        have = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        hint, capability = _OPENVINO_HINTS[dtype]
        if capability not in have:
            raise ModelLoadError(
                f"this CPU cannot run {dtype} in OpenVINO (it offers {', '.join(have)})",
                Fix(
                    "use dtype='float32'",
                    "use --dtype float32",
                    "start the server with --dtype float32",
                ),
            )
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        model = core.read_model(str(source / "model.xml")) if isinstance(source, Path) else source
        self.names = [next(iter(port.get_names())) for port in model.inputs]
        self.compiled = core.compile_model(model, "CPU", config)

    def __call__(self, inputs: Inputs) -> torch.Tensor:
        feed = [inputs[name].numpy() for name in self.names]
        return torch.from_numpy(np.array(self.compiled(feed)[0]))


def exported_forward(
    model: Any, feature_extractor: Any, options: ModelOptions, source: tuple[str, str | None]
) -> Forward:
    """The model exported to options.runtime (from the cache when a good export is there).
    source: where the weights came from and the language adapter loaded into them."""
    runtime, quantize = options.runtime, options.quantize
    if quantize == "int8":
        require_int8_units()
    version = _installed(runtime, quantize)
    location, language = source
    identity = model_identity(location, getattr(model.config, "_commit_hash", None))
    example = _examples(feature_extractor)
    key = {
        "model": identity,
        "language": language or "",
        "runtime": f"{runtime} {version}",
        "torch": torch.__version__,
        "inputs": ",".join(example[0]),
        "int8": f"{RECIPE}; agreement {MIN_AGREEMENT}" if quantize == "int8" else "False",
    }

    def build(target: Path) -> None:  # only on a cache miss: calibration decodes 46 s of audio
        if runtime == "onnxruntime":
            _build_onnx(model, example, target, quantize)
        else:
            calibration = calibration_batches(feature_extractor) if quantize else []
            _build_openvino(model, example, target, calibration)

    folder = cached_export(key, build)
    if runtime == "onnxruntime":
        return OnnxForward(folder, options.threads)
    return OpenVinoForward(folder, options.dtype, options.threads)


def _installed(runtime: str, quantize: str | None) -> str:
    """The runtime's version, once the packages its export needs are known to be there."""
    needs: tuple[str, ...] = ("onnxruntime", "onnx") if runtime == "onnxruntime" else ("openvino",)
    needs += ("nncf",) if runtime == "openvino" and quantize == "int8" else ()
    try:
        return " ".join(importlib.metadata.version(package) for package in needs)
    except importlib.metadata.PackageNotFoundError as err:
        raise ModelLoadError(
            f"runtime {runtime!r} needs the {err.name} package: pip install 'wav2text[{runtime}]'"
        ) from None


def _examples(feature_extractor: Any) -> list[dict[str, torch.Tensor]]:
    """Feature batches of seeded noise: the first to export with, the rest to check with."""
    rate = int(feature_extractor.sampling_rate)
    noise = np.random.default_rng(0).standard_normal(int(max(_PROBE_SECONDS) * rate))
    clips = [(0.1 * noise[: int(s * rate)]).astype(np.float32) for s in _PROBE_SECONDS]
    batches = [[clips[0]], [clips[1]]]
    if getattr(feature_extractor, "return_attention_mask", False):
        batches.append(clips)  # padded together: the attention mask must be honoured
    return [
        dict(feature_extractor(b, sampling_rate=rate, return_tensors="pt", padding=True))
        for b in batches
    ]


def _build_onnx(
    model: Any, examples: list[dict[str, torch.Tensor]], target: Path, quantize: str | None
) -> None:
    names = list(examples[0])
    axes = {name: {0: "batch", 1: "time"} for name in names} | {"logits": {0: "batch", 1: "frames"}}
    path = target / "model.onnx"
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            _Logits(model, names).eval(),
            tuple(examples[0].values()),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    forward = OnnxForward(target, threads=None)
    _check(model, forward, examples)
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = target / "model.int8.onnx"
        with _quiet():
            quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8)
        quantized.replace(path)


def _build_openvino(
    model: Any,
    examples: list[dict[str, torch.Tensor]],
    target: Path,
    calibration: list[dict[str, torch.Tensor]],
) -> None:
    """The OpenVINO export, checked against PyTorch; with calibration batches, quantised to
    int8 on them and checked again (wav2text.int8)."""
    import openvino

    names = list(examples[0])
    shapes = [openvino.PartialShape([-1, -1, *t.shape[2:]]) for t in examples[0].values()]
    with torch.no_grad(), _quiet():
        converted = openvino.convert_model(
            _Logits(model, names).eval(),
            example_input=tuple(examples[0].values()),
            input=shapes,
        )
    for port, name in zip(converted.inputs, names, strict=True):
        port.get_tensor().set_names({name})
    reference = OpenVinoForward(converted, "float32", threads=None)
    _check(model, reference, examples)
    if calibration:
        with _quiet():
            converted = quantize_openvino(converted, calibration)
        check_agreement(reference, OpenVinoForward(converted, "float32", None), calibration)
    openvino.save_model(converted, str(target / "model.xml"), compress_to_fp16=False)


def _check(model: Any, forward: Forward, examples: list[dict[str, torch.Tensor]]) -> None:
    """Refuse an export whose float32 log-probabilities differ from PyTorch's."""
    reference = TorchForward(model, autocast=None)
    for batch in examples:
        expected = torch.log_softmax(reference(batch).float(), -1)
        got = torch.log_softmax(forward(batch).float(), -1)
        gap = float((expected - got).abs().max()) if got.shape == expected.shape else np.inf
        if not gap <= _FP32_TOLERANCE:
            raise ModelLoadError(
                f"the exported model disagrees with PyTorch on a {tuple(got.shape)} input "
                f"(largest log-probability difference {gap:.3g}); it is not used",
                Fix(
                    "use runtime='torch', and please report the model",
                    "run with --runtime torch, and please report the model",
                    "start the server with --runtime torch, and please report the model",
                ),
            )
