"""Other runtimes (ONNX Runtime, OpenVINO): the same transcripts as PyTorch, a cache that is
checked, and clear errors for what a runtime cannot do."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import jiwer
import numpy as np
import pytest
import torch

from conftest import noisy_tone
from tiny_models import ARCHITECTURES, make_model, make_multilingual_model
from wav2text import (
    ModelLoadError,
    ModelOptions,
    OptionsError,
    TranscribeOptions,
    Transcriber,
    int8,
)
from wav2text.exportcache import ExportCacheWarning, cache_root
from wav2text.resolve import BUNDLED_MODEL
from wav2text.runtime import TorchForward, _check

REAL = Path(__file__).parent / "data" / "real"
INSTALLED = [
    name
    for name, package in (("onnxruntime", "onnx"), ("openvino", "openvino"))
    if importlib.util.find_spec(package)
]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Exports go to a cache of the test session's, never the user's."""
    root = tmp_path_factory.getbasetemp() / "export-cache"
    monkeypatch.setenv("WAV2TEXT_CACHE", str(root))
    return root


def _exports() -> list[Path]:
    return sorted((cache_root() / "exports").glob("[!.]*"))


@pytest.mark.parametrize("runtime", INSTALLED)
@pytest.mark.parametrize("arch", [*ARCHITECTURES, "wav2vec2-masked"])
def test_exported_tiny_models_transcribe_as_torch(
    runtime: str, arch: str, models: Path, speech_wav: Path
) -> None:
    masked = arch.endswith("-masked")
    directory = make_model(
        models / f"rt-{arch}", arch.removesuffix("-masked"), attention_mask=masked
    )
    torch_run = Transcriber(ModelOptions(str(directory), lm=None))
    other = Transcriber(ModelOptions(str(directory), lm=None, runtime=runtime))
    assert other.model.runtime != "torch"
    audio = noisy_tone(3.7, 16000)
    options = TranscribeOptions(
        sample_rate=16000,
        batch_size=3,
        segmentation="window",
        chunk_length_s=1.5,
        stride_length_s=0.3,
    )
    for source, opts in ((speech_wav, None), (audio, options)):
        expected = torch_run.transcribe(source, opts)
        got = other.transcribe(source, opts)
        assert got.text == expected.text
        assert [w.start for w in got.words] == [w.start for w in expected.words]


@pytest.mark.parametrize("runtime", INSTALLED)
def test_bundled_model_exported_gives_torch_transcripts_on_real_speech(runtime: str) -> None:
    clips = sorted(REAL.glob("arctic_*.wav")) + sorted(REAL.glob("ljspeech_*.wav"))[:2]
    torch_run = Transcriber(BUNDLED_MODEL)
    other = Transcriber(ModelOptions(BUNDLED_MODEL, runtime=runtime))
    for clip in clips:
        assert other.transcribe(clip).text == torch_run.transcribe(clip).text, clip.name


@pytest.mark.parametrize(
    ("runtime", "dtype", "quantize", "bound"),
    [
        ("openvino", "bfloat16", None, 0.05),
        ("onnxruntime", "float32", "int8", 0.2),
        ("openvino", "float32", "int8", 0.2),
    ],
)
def test_reduced_precision_mostly_agrees(
    runtime: str, dtype: str, quantize: str | None, bound: float
) -> None:
    if runtime not in INSTALLED:
        pytest.skip(f"{runtime} not installed")
    clips = sorted(REAL.glob("librivox_*.wav"))
    fp32 = Transcriber(BUNDLED_MODEL)
    try:
        reduced = Transcriber(
            ModelOptions(BUNDLED_MODEL, runtime=runtime, dtype=dtype, quantize=quantize)  # type: ignore[arg-type]
        )
    except ModelLoadError as error:  # the product's refusal where the CPU lacks the precision
        if "this CPU cannot run" not in str(error) and "int8 dot-product" not in str(error):
            raise
        pytest.skip(str(error))
    expected = [fp32.transcribe(c).text for c in clips]
    got = [reduced.transcribe(c).text for c in clips]
    assert jiwer.wer(expected, got) <= bound


@pytest.mark.parametrize("runtime", INSTALLED)
def test_export_is_cached_and_reused(runtime: str, tiny_dir: Path) -> None:
    options = ModelOptions(str(tiny_dir), lm=None, runtime=runtime)
    Transcriber(options)
    before = {p: (p / "manifest.json").stat().st_mtime_ns for p in _exports()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportCacheWarning)
        Transcriber(options)
    assert {p: (p / "manifest.json").stat().st_mtime_ns for p in _exports()} == before


@pytest.mark.parametrize("runtime", INSTALLED)
def test_a_damaged_export_is_rebuilt_not_trusted(runtime: str, models: Path) -> None:
    directory = make_model(models / f"damaged-{runtime}", seed=3)
    options = ModelOptions(str(directory), lm=None, runtime=runtime)
    expected = Transcriber(ModelOptions(str(directory), lm=None)).transcribe(
        noisy_tone(2.0, 16000), TranscribeOptions(sample_rate=16000)
    )
    Transcriber(options)
    folder = _newest_export()
    weights = max(
        (p for p in folder.iterdir() if p.name != "manifest.json"), key=lambda p: p.stat().st_size
    )
    data = bytearray(weights.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # inside the weights
    weights.write_bytes(bytes(data))
    with pytest.warns(ExportCacheWarning, match="damaged"):
        again = Transcriber(options)
    got = again.transcribe(noisy_tone(2.0, 16000), TranscribeOptions(sample_rate=16000))
    assert got.text == expected.text
    (folder / "manifest.json").unlink()  # a half-written folder: no manifest
    with pytest.warns(ExportCacheWarning, match="half-written"):
        Transcriber(options)


def test_new_weights_in_the_same_folder_get_a_new_export(models: Path) -> None:
    runtime = INSTALLED[0] if INSTALLED else pytest.skip("no other runtime installed")
    directory = make_model(models / "retrained", seed=4)
    audio, opts = noisy_tone(2.0, 16000), TranscribeOptions(sample_rate=16000)
    Transcriber(ModelOptions(str(directory), lm=None, runtime=runtime))
    make_model(directory, seed=5)  # retrained in place
    fresh = Transcriber(ModelOptions(str(directory), lm=None)).transcribe(audio, opts)
    exported = Transcriber(ModelOptions(str(directory), lm=None, runtime=runtime))
    assert exported.transcribe(audio, opts).text == fresh.text


def test_an_export_that_disagrees_with_torch_is_refused(tiny_dir: Path) -> None:
    model = Transcriber(ModelOptions(str(tiny_dir), lm=None)).model
    reference = TorchForward(model.model, autocast=None)
    batch = dict(
        model.feature_extractor(
            [np.ones(16000, np.float32)], sampling_rate=16000, return_tensors="pt"
        )
    )
    _check(model.model, reference, [batch])  # the same numbers pass
    with pytest.raises(ModelLoadError, match="disagrees with PyTorch"):
        _check(model.model, lambda inputs: reference(inputs) * 1.01, [batch])
    with pytest.raises(ModelLoadError, match="disagrees with PyTorch"):  # a frame short
        _check(model.model, lambda inputs: reference(inputs)[:, :-1], [batch])


def test_runtime_options_say_what_each_runtime_runs() -> None:
    with pytest.raises(OptionsError, match=r"onnxruntime.*float32.*quantize"):
        ModelOptions(runtime="onnxruntime", dtype="bfloat16")
    assert ModelOptions(runtime="openvino", quantize="int8").quantize == "int8"
    with pytest.raises(OptionsError, match=r"runs on the CPU.*torch"):
        ModelOptions(runtime="openvino", device="cuda")
    with pytest.raises(OptionsError, match="runtime must be one of"):
        ModelOptions(runtime="tensorrt")  # type: ignore[arg-type]


@pytest.mark.parametrize("runtime", INSTALLED)
def test_int8_is_refused_where_the_cpu_has_no_int8_units(
    runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(int8, "int8_units", lambda: ())
    before = _exports()
    with pytest.raises(ModelLoadError, match="int8 dot-product instructions") as refused:
        Transcriber(ModelOptions(BUNDLED_MODEL, runtime=runtime, quantize="int8"))  # type: ignore[arg-type]
    assert "avx512_vnni" in str(refused.value)
    assert _exports() == before  # refused before exporting


def test_int8_units_are_read_from_the_cpu_flags() -> None:
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    assert set(int8.int8_units()) == {f for f in int8.INT8_FLAGS if f in flags}


def test_an_int8_export_that_changes_the_output_is_refused() -> None:
    """Negative control of the agreement check: a model whose best token moves on every
    tenth frame is refused; the same model is accepted."""
    torch.manual_seed(0)
    batches = [{"x": torch.randn(1, 50, 8)} for _ in range(3)]
    reference = lambda batch: batch["x"]  # noqa: E731
    assert int8.check_agreement(reference, reference, batches) == 1.0

    def moved(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = batch["x"].clone()
        out[:, ::10] = -out[:, ::10]
        return out

    with pytest.raises(ModelLoadError, match="int8 changes this model's output too much"):
        int8.check_agreement(reference, moved, batches)


def test_a_missing_runtime_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    real = importlib.metadata.version

    def version(package: str) -> str:
        if package == "openvino":
            raise importlib.metadata.PackageNotFoundError(package)
        return real(package)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(ModelLoadError, match=r"pip install 'wav2text\[openvino\]'"):
        Transcriber(ModelOptions(BUNDLED_MODEL, runtime="openvino"))


def test_an_exported_multilingual_model_keeps_its_language(models: Path) -> None:
    runtime = INSTALLED[0] if INSTALLED else pytest.skip("no other runtime installed")
    directory = make_multilingual_model(
        models / "mms-rt", {"eng": ["<pad>", "|", "a", "b"], "fra": ["<pad>", "|", "c", "d", "e"]}
    )
    exported = Transcriber(ModelOptions(str(directory), lm=None, runtime=runtime, language="fra"))
    assert json.loads((_newest_export() / "manifest.json").read_text())["key"]["language"] == "fra"
    audio, opts = noisy_tone(2.0, 16000), TranscribeOptions(sample_rate=16000)
    with pytest.raises(OptionsError, match="keeps the language it was loaded with"):
        exported.transcribe(audio, TranscribeOptions(sample_rate=16000, language="eng"))
    torch_fra = Transcriber(ModelOptions(str(directory), lm=None, language="fra"))
    assert exported.transcribe(audio, opts).text == torch_fra.transcribe(audio, opts).text


def test_cli_runs_another_runtime(tmp_path: Path, speech_wav: Path, tiny_dir: Path) -> None:
    from wav2text.cli import main

    runtime = INSTALLED[0] if INSTALLED else pytest.skip("no other runtime installed")
    out = tmp_path / "out"
    for name in ("torch", runtime):
        code = main(
            [
                "transcribe",
                str(speech_wav),
                "-m",
                str(tiny_dir),
                "--lm",
                "none",
                "--runtime",
                name,
                "-f",
                "json",
                "-o",
                str(out / name),
            ]
        )
        assert code == 0
    texts = [
        json.loads(next((out / n).glob("*.json")).read_text())["text"] for n in ("torch", runtime)
    ]
    assert texts[0] == texts[1]


def _newest_export() -> Path:
    return max(_exports(), key=lambda p: (p / "manifest.json").stat().st_mtime_ns)


def test_torch_forward_is_the_default(tiny: Transcriber) -> None:
    assert tiny.model.runtime == "torch" and isinstance(tiny.model.forward, TorchForward)
    assert torch.is_tensor(
        tiny.model.forward(
            dict(
                tiny.model.feature_extractor(
                    [np.zeros(4000, np.float32)], sampling_rate=16000, return_tensors="pt"
                )
            )
        )
    )
