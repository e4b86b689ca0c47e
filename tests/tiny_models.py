"""Small random CTC models, saved as real model directories, for tests and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from transformers import (
    Data2VecAudioConfig,
    Data2VecAudioForCTC,
    HubertConfig,
    HubertForCTC,
    Wav2Vec2Config,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    WavLMConfig,
    WavLMForCTC,
)

# The layout of facebook/wav2vec2-base-960h: specials, word delimiter, letters by frequency.
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]

ARCHITECTURES: dict[str, tuple[Any, Any]] = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2ForCTC),
    "hubert": (HubertConfig, HubertForCTC),
    "wavlm": (WavLMConfig, WavLMForCTC),
    "data2vec-audio": (Data2VecAudioConfig, Data2VecAudioForCTC),
}


def _size(hidden: int, layers: int, heads: int, ffn: int, conv: int, pos: int, groups: int) -> dict:
    """A model size: transformer width/depth/heads/feed-forward, conv channels, pos-conv."""
    return dict(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        conv_dim=(conv,) * 7,
        num_conv_pos_embeddings=pos,
        num_conv_pos_embedding_groups=groups,
    )


TINY = _size(32, 2, 2, 48, conv=16, pos=16, groups=2)
BASE = _size(768, 12, 12, 3072, conv=512, pos=128, groups=16)  # wav2vec2-base compute
LARGE = dict(  # wav2vec2-large-lv60 compute: 24 layers of 1024 (use with attention_mask=True)
    BASE, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
)


def make_model(
    directory: Path,
    arch: str = "wav2vec2",
    *,
    sampling_rate: int = 16000,
    attention_mask: bool = False,
    do_normalize: bool = True,
    size: dict[str, Any] | None = None,
    seed: int = 0,
    **config: Any,
) -> Path:
    """Save a randomly initialised CTC model with processor files under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    config_class, model_class = ARCHITECTURES[arch]
    settings: dict[str, Any] = {**(size or TINY), **config}
    if attention_mask:  # how the "large-lv60" style models are set up
        settings.setdefault("feat_extract_norm", "layer")
        settings.setdefault("do_stable_layer_norm", True)
    torch.manual_seed(seed)
    model = model_class(
        config_class(vocab_size=len(VOCAB), pad_token_id=0, ctc_loss_reduction="mean", **settings)
    )
    _sharpen_output(model)
    model.save_pretrained(directory)
    vocab_file = directory / "vocab.json"
    vocab_file.write_text(json.dumps({token: i for i, token in enumerate(VOCAB)}))
    Wav2Vec2CTCTokenizer(str(vocab_file)).save_pretrained(directory)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sampling_rate,
        padding_value=0.0,
        do_normalize=do_normalize,
        return_attention_mask=attention_mask,
    ).save_pretrained(directory)
    return directory


def _sharpen_output(model: Any) -> None:
    """Random heads give near-flat logits; widen them so the argmax varies with the audio."""
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)


def make_multilingual_model(directory: Path, languages: dict[str, list[str]]) -> Path:
    """An MMS-style model: one shared body, an adapter and a vocabulary per language.

    The first language's adapter is in the main weights and is the tokenizer's default,
    as in facebook/mms-1b-all (English)."""
    directory.mkdir(parents=True, exist_ok=True)
    first = next(iter(languages))
    config = Wav2Vec2Config(
        vocab_size=len(languages[first]), pad_token_id=0, adapter_attn_dim=8, **TINY
    )
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(config)
    for seed, (language, vocab) in enumerate(reversed(languages.items())):  # first one last
        torch.manual_seed(seed + 1)
        model.lm_head = torch.nn.Linear(config.hidden_size, len(vocab))
        model.init_adapter_layers()
        _sharpen_output(model)
        adapter = {k: v.detach().clone() for k, v in model._get_adapters().items()}
        save_file(adapter, directory / f"adapter.{language}.safetensors")
    model.save_pretrained(directory)
    vocab_file = directory / "vocab.json"
    nested = {lang: {t: i for i, t in enumerate(vocab)} for lang, vocab in languages.items()}
    vocab_file.write_text(json.dumps(nested))
    Wav2Vec2CTCTokenizer(str(vocab_file), target_lang=first).save_pretrained(directory)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000).save_pretrained(directory)
    return directory
