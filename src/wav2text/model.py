"""Load any Hugging Face CTC model with its processor; expose what the pipeline needs."""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .blas import one_blas_thread
from .ctc import Vocabulary
from .errors import Fix, ModelLoadError, OptionsError
from .features import FastFbank
from .language import language_code
from .options import DEFAULT_CHUNK_LENGTH_S, DEFAULT_STRIDE_LENGTH_S, ModelOptions
from .resolve import BundledModelWarning, resolve_model
from .runtime import Forward, TorchForward, exported_forward

_MAX_RECEPTIVE_FIELD = 1 << 14  # samples searched for the shortest input giving one frame

_TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Language:
    """What one call runs in: a language code (None: a one-language model) and its tokens."""

    code: str | None
    vocab: Vocabulary


class CTCModel:
    """A loaded CTC model: its rate, frame geometry, vocabulary, and a forward pass."""

    def __init__(
        self,
        model: Any,
        feature_extractor: Any,
        tokenizer: Any,
        name: str,
        autocast: torch.dtype | None = None,
        revision: str | None = None,
        location: str | None = None,
        forward: Forward | None = None,
    ) -> None:
        self.model = model
        self.forward = forward or TorchForward(model, autocast)
        self.runtime = type(self.forward).__name__.removesuffix("Forward").lower()
        self.location = location or name  # what from_pretrained loaded (a directory or hub id)
        self.autocast = autocast  # run in this precision, weights kept float32 (CPU)
        self.feature_extractor = feature_extractor
        self.fbank = FastFbank.for_extractor(feature_extractor)  # None: the extractor's own
        self.name = name
        self.sampling_rate: int = int(feature_extractor.sampling_rate)
        self.hop: int = _frame_hop(model.config)
        self.frame_seconds = self.hop / self.sampling_rate
        self.vocab = _vocabulary(tokenizer)
        self.tokenizer, self.revision = tokenizer, revision
        self.languages = _languages(model, tokenizer)  # a multilingual adapter model's (MMS)
        # What a call that names no language runs in; never switched by a call: each call
        # holds its own Language, and the forward pass loads its adapter under the lock.
        self.language: str | None = (
            getattr(tokenizer, "target_lang", None) if self.languages else None
        )
        # a one-language model's language, where it says (transcripts report it)
        self.spoken: str | None = None if self.languages else _one_language_of(model, self.location)
        self._adapter = self.language  # the adapter the weights hold now (guarded by lock)
        self._vocabularies = {self.language: self.vocab}
        # One forward pass at a time: callers on several threads (live streams beside file
        # requests) interleave pass by pass instead of contending inside one.
        self.lock = threading.Lock()
        self.min_samples = self._min_samples()
        # A model may ask for its own window (chunk, stride) in seconds, e.g. one whose
        # attention cost explodes on long windows or that was trained on short utterances.
        window = getattr(model.config, "wav2text_window_s", None)
        self.window_s: tuple[float, float] = (
            (float(window[0]), float(window[1]))
            if window
            else (DEFAULT_CHUNK_LENGTH_S, DEFAULT_STRIDE_LENGTH_S)
        )

    def in_language(self, requested: str | None) -> Language:
        """The language a call runs in, with its vocabulary (None: the one it was loaded
        in). Nothing shared changes: passes pass the code to `log_probs_batch`."""
        if requested is None:
            return Language(self.language, self.vocab)
        if not self.languages:
            raise OptionsError(_one_language(self.name, requested))
        code = language_code(requested, self.languages, self.name)
        if code != self.language:
            self._check_switchable(code)
        with self.lock:
            if code not in self._vocabularies:
                self.tokenizer.set_target_lang(code)  # read here only, under the lock
                self._vocabularies[code] = _vocabulary(self.tokenizer)
        return Language(code, self._vocabularies[code])

    def _check_switchable(self, code: str) -> None:
        fixed = (
            None if isinstance(self.model.lm_head, torch.nn.Linear) else "an int8-quantised model"
        )
        if self.runtime != "torch":
            fixed = f"a model exported to {self.runtime}"
        if fixed:
            raise OptionsError(
                f"{fixed} keeps the language it was loaded with ({self.language}); "
                f"load it with language={code!r} (--language {code}) instead"
            )

    def _activate(self, code: str | None) -> None:
        """The weights to `code`'s adapter (caller holds the lock). Calls that alternate
        languages reload an adapter per pass: transformers reads it from its cache."""
        if code is None or code == self._adapter:
            return
        _load_language(self.model, self.tokenizer, code, self.name, self.revision)
        self._adapter = code

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def output_size(self, language: Language) -> int:
        """Log-probabilities per frame: the CTC head's outputs (the vocabulary, or more); a
        multilingual model's head is its language's vocabulary."""
        head = getattr(self.model, "lm_head", None)
        if self.languages:
            return len(language.vocab.tokens)
        return int(getattr(head, "out_features", 0) or len(self.vocab.tokens))

    @property
    def pads_safely(self) -> bool:
        """Inputs of different lengths may share a batch: the model takes an attention mask.

        Models without one (wav2vec2-base: group norm over the whole input) compute other
        numbers for padded input, so they only batch inputs of equal length."""
        return bool(getattr(self.feature_extractor, "return_attention_mask", False))

    def log_probs(self, samples: np.ndarray) -> np.ndarray:
        """(frames, vocab) float32 log-probabilities for mono samples at the model's rate."""
        return self.log_probs_batch([samples])[0]

    def log_probs_batch(
        self, batch: Sequence[np.ndarray], language: str | None = None
    ) -> list[np.ndarray]:
        """log_probs of several inputs in one forward pass, in `language` (a code from
        `in_language`; None: the loaded one); each result has exactly the frames the input
        alone would give. Unequal lengths need `pads_safely`."""
        if len({len(x) for x in batch}) > 1 and not self.pads_safely:
            raise ValueError("this model cannot batch inputs of different lengths")
        features = self._features(batch)
        first = next(iter(features.values()))
        if first.shape[1] == 0 or not torch.isfinite(first).all():
            # too short for the extractor to make a frame it can normalise (log-mel models)
            return [self._no_frames()] * len(batch)
        inputs = {
            key: value.to(self.device, self.dtype if value.is_floating_point() else None)
            for key, value in features.items()
        }
        with self.lock:
            self._activate(language or self.language)
            logits = self.forward(inputs)
        lengths = self._output_lengths(features.get("attention_mask"), logits.shape[:2])
        log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
        return [row[:n] for row, n in zip(log_probs, lengths, strict=True)]

    def _features(self, batch: Sequence[np.ndarray]) -> Any:
        fast = self.fbank(batch) if self.fbank else None
        if fast is not None:
            return fast
        with one_blas_thread(), warnings.catch_warnings():  # 1 log-mel frame: NaN variance
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.feature_extractor(
                list(batch), sampling_rate=self.sampling_rate, return_tensors="pt", padding=True
            )

    def _output_lengths(self, mask: torch.Tensor | None, shape: torch.Size) -> list[int]:
        batch, frames = shape
        if mask is None or bool(mask.all()):
            return [frames] * batch
        return [int(n) for n in self.model._get_feat_extract_output_lengths(mask.sum(-1))]

    def _no_frames(self) -> np.ndarray:
        return np.zeros((0, len(self.vocab.tokens)), dtype=np.float32)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one model per process, few lengths
    def frames_for(self, n_samples: int) -> int:
        """How many logit frames the model makes of n_samples."""
        lengths = getattr(self.model, "_get_feat_extract_output_lengths", None)
        if lengths is not None and getattr(self.model.config, "conv_kernel", None):
            return int(lengths(torch.tensor(n_samples)))
        try:
            return len(self.log_probs(np.zeros(n_samples, dtype=np.float32)))
        except ValueError:  # a log-mel extractor cannot frame input shorter than its window
            return 0

    def _min_samples(self) -> int:
        low, high = 1, _MAX_RECEPTIVE_FIELD
        while low < high:
            mid = (low + high) // 2
            low, high = (low, mid) if self.frames_for(mid) >= 1 else (mid + 1, high)
        return low


def load_model(options: ModelOptions) -> CTCModel:
    choice = resolve_model(options.model, options.revision)
    if choice.notice:
        warnings.warn(choice.notice, BundledModelWarning, stacklevel=3)
    location = choice.location
    device = _device(options.device)
    if options.threads:
        torch.set_num_threads(options.threads)  # process-wide: torch has no per-model setting
    try:
        from transformers import AutoModelForCTC

        model = AutoModelForCTC.from_pretrained(location, revision=options.revision)
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(_load_hint(location, err)) from err
    feature_extractor, tokenizer = _processor(location, options.revision)
    if options.language:
        languages = _languages(model, tokenizer)
        if not languages:
            raise ModelLoadError(_one_language(choice.name, options.language))
        try:
            code = language_code(options.language, languages, choice.name)
        except OptionsError as err:
            raise ModelLoadError(str(err)) from None
        _load_language(model, tokenizer, code, choice.name, options.revision)
    if options.runtime != "torch":
        model = model.to(device).eval()
        forward: Forward = exported_forward(
            model, feature_extractor, options, (location, getattr(tokenizer, "target_lang", None))
        )
        autocast = None
    else:
        model, autocast = _for_torch(model, device, options)
        forward = TorchForward(model, autocast)
    return CTCModel(
        model,
        feature_extractor,
        tokenizer,
        choice.name,
        autocast,
        options.revision,
        location,
        forward,
    )


def _for_torch(model: Any, device: torch.device, options: ModelOptions) -> tuple[Any, Any]:
    """The model at the precision asked for, and the autocast dtype it runs under (or None)."""
    dtype = _TORCH_DTYPES[options.dtype]
    # On CPU, autocast runs matrix products in bf16/fp16 but keeps norms and softmax in
    # float32: measured faster (18.6x vs 17.3x real time, base size, 1 thread) and closer
    # to float32 than casting the weights. On GPU the weights are cast (half the memory).
    autocast = dtype if device.type == "cpu" and dtype != torch.float32 else None
    model = model.to(device=device, dtype=torch.float32 if autocast else dtype).eval()
    if options.quantize == "int8":
        model = _quantize_int8(model, device)
    return model, autocast


CPU_INSTEAD = Fix(
    "use device='cpu' (or 'auto')",
    "use --device cpu (or auto)",
    "start the server with --device cpu (or auto)",
)


def _quantize_int8(model: Any, device: torch.device) -> Any:
    """Dynamic int8 quantisation of the linear layers: weights int8, activations per batch."""
    if device.type != "cpu":
        raise ModelLoadError(
            "int8 dynamic quantisation runs on CPU only",
            Fix(
                "on GPU use dtype='float16' or 'bfloat16' instead",
                "on GPU use --dtype float16 or bfloat16 instead",
                "start the server with --dtype float16 or bfloat16 instead on GPU",
            ),
        )
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch points to torchao; this API still works as is
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _processor(name: str, revision: str | None) -> tuple[Any, Any]:
    from transformers import AutoFeatureExtractor, AutoTokenizer

    try:
        return (
            AutoFeatureExtractor.from_pretrained(name, revision=revision),
            AutoTokenizer.from_pretrained(name, revision=revision),
        )
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(
            f"{name}: the model loaded but its feature extractor or tokenizer did not ({err}); "
            "a CTC model directory needs preprocessor_config.json, vocab.json and "
            "tokenizer_config.json beside config.json"
        ) from err


def _languages(model: Any, tokenizer: Any) -> list[str]:
    """The languages of a multilingual adapter model (MMS), else none."""
    adapters = getattr(model.config, "adapter_attn_dim", None) and hasattr(model, "load_adapter")
    vocab = getattr(tokenizer, "vocab", None)
    if not adapters or not isinstance(vocab, dict):
        return []
    return sorted(vocab) if all(isinstance(v, dict) for v in vocab.values()) else []


def _one_language(name: str, language: str) -> str:
    return (
        f"{name} has one language, so it takes no language={language!r}; languages are "
        "chosen in multilingual adapter models such as facebook/mms-1b-all"
    )


def _load_language(model: Any, tokenizer: Any, code: str, name: str, revision: str | None) -> None:
    """Load one language's adapter weights and vocabulary into a multilingual model."""
    try:
        model.load_adapter(code, revision=revision)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{name}: could not load the {code!r} adapter ({err})") from err
    tokenizer.set_target_lang(code)


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ModelLoadError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            f"device {device!r} asked for, but CUDA is not available here", CPU_INSTEAD
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(
            f"device {device!r} asked for, but Apple's MPS is not available here", CPU_INSTEAD
        )
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ModelLoadError(f"device {device!r} is not one wav2text runs on: use cpu or cuda")
    return resolved


def _load_hint(name: str, err: Exception) -> str:
    if Path(name).exists():
        return (
            f"{name}: not a loadable CTC model directory ({err}); it needs config.json "
            "and weights of an AutoModelForCTC architecture (Wav2Vec2ForCTC, HubertForCTC...)"
        )
    return (
        f"could not load model {name!r} ({err}); check the hub id and your network, or "
        "set HF_HUB_OFFLINE=1 to use the local Hugging Face cache, or pass a local directory"
    )


def _frame_hop(config: Any) -> int:
    """Audio samples per logit frame, from the config, never assumed."""
    ratio = getattr(config, "inputs_to_logits_ratio", None)
    if ratio:
        return int(ratio)
    strides = getattr(config, "conv_stride", None)
    if strides:
        return int(np.prod(strides))
    raise ModelLoadError(
        f"{type(config).__name__} declares no inputs_to_logits_ratio or conv_stride, so its "
        "frame duration is unknown; wav2text supports the wav2vec2 family of CTC models"
    )


def _vocabulary(tokenizer: Any) -> Vocabulary:
    blank = tokenizer.pad_token_id
    if blank is None:
        raise ModelLoadError("the tokenizer has no pad token, which CTC models use as the blank")
    tokens = tuple(t or "" for t in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
    return Vocabulary(
        tokens=tokens,
        blank=int(blank),
        delimiter=getattr(tokenizer, "word_delimiter_token_id", None),
        lower=bool(getattr(tokenizer, "do_lower_case", False)),
    )


def _one_language_of(model: Any, location: str) -> str | None:
    """`wav2text_language` in the model's config.json, else the single `language:` of the
    model card's metadata (README.md in a local model directory), else None."""
    import yaml
    from huggingface_hub.repocard import metadata_load

    said = getattr(model.config, "wav2text_language", None)
    if isinstance(said, str):
        return said
    card = Path(location) / "README.md"
    try:
        metadata = metadata_load(card) if card.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    language = (metadata or {}).get("language")
    languages = [language] if isinstance(language, str) else language
    if isinstance(languages, list) and len(languages) == 1 and isinstance(languages[0], str):
        return languages[0]
    return None
