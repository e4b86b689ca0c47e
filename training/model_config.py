"""The demo model's architecture and vocabulary (laid out like facebook/wav2vec2-base-960h)."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig, Wav2Vec2BertConfig, Wav2Vec2Config

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}

_COMMON: dict[str, Any] = dict(
    vocab_size=len(VOCAB),
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    ctc_loss_reduction="mean",
    ctc_zero_infinity=True,
    hidden_dropout=0.1,
    activation_dropout=0.05,
    attention_dropout=0.05,
    feat_proj_dropout=0.05,
    final_dropout=0.05,
    layerdrop=0.0,
    mask_time_prob=0.05,
    mask_time_length=5,
)


def config(arch: str, width: int = 144, layers: int = 6) -> PretrainedConfig:
    size = dict(
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=4 * width,
    )
    if arch == "w2v-bert":  # conformer on 80-bin log-mel pairs, 20 ms frames
        return Wav2Vec2BertConfig(
            **_COMMON,
            **size,
            conv_depthwise_kernel_size=15,
            position_embeddings_type="relative_key",
        )
    if arch == "w2v2":  # transformer on a learned conv front end over the raw waveform
        return Wav2Vec2Config(
            **_COMMON,
            **size,
            conv_dim=(128,) * 7,
            feat_extract_norm="layer",
            do_stable_layer_norm=True,
            num_conv_pos_embeddings=64,
        )
    raise ValueError(f"unknown architecture {arch!r}: w2v-bert or w2v2")


def encode(text: str) -> list[int]:
    return [TOKEN_ID["|" if c == " " else c] for c in text]


def greedy_text(ids: list[int]) -> str:
    out, previous = [], -1
    for i in ids:
        if i != previous and i > 3:
            out.append(" " if VOCAB[i] == "|" else VOCAB[i])
        previous = i
    return " ".join("".join(out).split())
