"""Deepen a trained Wav2Vec2-BERT CTC model without losing what it knows.

New conformer blocks are copies of their neighbour with every residual branch's output
projection set to zero, so each adds nothing at first: the deeper model starts where the
trained one stands (up to the block's closing layer norm, which renormalises an already
normalised stream) and training then gives the new blocks work. Used by `train.py
--grow-layers N`; the blocks are spread evenly between the existing ones.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import torch

LAYER = re.compile(r"^(?P<head>.*\.encoder\.layers\.)(?P<index>\d+)\.(?P<rest>.*)$")
# the projections that close each residual branch of a conformer block
BRANCH_OUTPUTS = (
    "ffn1.output_dense.",
    "self_attn.linear_out.",
    "conv_module.pointwise_conv2.",
    "ffn2.output_dense.",
)


def layer_plan(old: int, new: int) -> list[tuple[int, bool]]:
    """For each block of the deeper model: the old block it copies, and whether it is new."""
    if new < old:
        raise ValueError(f"cannot grow {old} layers to {new}")
    slots = max(old - 1, 1)  # new blocks go between old ones, spread evenly
    plan: list[tuple[int, bool]] = []
    for index in range(old):
        plan.append((index, False))
        count = (new - old) * (index + 1) // slots - (new - old) * index // slots
        plan.extend([(index, True)] * (count if index < slots else 0))
    return plan


def deepen(config: Any, weights: dict[str, torch.Tensor], layers: int) -> tuple[Any, dict]:
    """The config and weights of the model with `layers` conformer blocks."""
    plan = layer_plan(config.num_hidden_layers, layers)
    blocks: dict[int, dict[str, torch.Tensor]] = {}
    grown: dict[str, torch.Tensor] = {}
    for name, tensor in weights.items():
        match = LAYER.match(name)
        if match is None:
            grown[name] = tensor
        else:
            blocks.setdefault(int(match["index"]), {})[match["rest"]] = tensor
    head = next(LAYER.match(name)["head"] for name in weights if LAYER.match(name))  # type: ignore[index]
    for position, (source, fresh) in enumerate(plan):
        for rest, tensor in blocks[source].items():
            silent = fresh and rest.startswith(BRANCH_OUTPUTS)
            copied = torch.zeros_like(tensor) if silent else tensor.clone()
            grown[f"{head}{position}.{rest}"] = copied
    deeper = copy.deepcopy(config)
    deeper.num_hidden_layers = layers
    return deeper, grown
