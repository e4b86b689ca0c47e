"""The synthetic speakers: espeak-ng accents x variants, flite and festival voices.

`slt` (a US female voice, in both flite and festival) is held out of training entirely:
it measures how the model does on a voice it never heard.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soxr

from . import kokoro

RATE = 16000
ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "croak",
    "whisper",
    "Alex",
    "Annie",
    "adam",
    "anika",
    "aunty",
    "boris",
    "david",
    "edward",
    "grandma",
    "john",
    "linda",
    "max",
    "michel",
    "paul",
    "robert",
    "steph",
    "travis",
    "victor",
    "zac",
)
FLITE_SEEN = ("kal", "kal16", "awb", "rms")
FESTIVAL_SEEN = ("kal_diphone",)
HELD_OUT = {"flite": ("slt",), "festival": ("cmu_us_slt_arctic_hts",)}


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak-ng, flite, festival or kokoro
    name: str
    speed: float  # espeak: words per minute; flite/festival: duration stretch
    pitch: int  # espeak 0-99; flite mean F0 in Hz (0 = the voice's own)
    # kokoro: name is a style mixture (training.kokoro), speed Kokoro's speed factor

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name}"


def random_voice(rng: random.Random, held_out: bool = False, family: str = "classic") -> Voice:
    """A speaker of `family`: "classic" (espeak-ng, flite, festival) or "kokoro"."""
    if family == "kokoro":
        return Voice("kokoro", kokoro.random_mixture(rng, held_out), rng.uniform(0.85, 1.2), 0)
    if held_out:
        engine = rng.choice(("flite", "festival"))
        return Voice(engine, HELD_OUT[engine][0], rng.uniform(0.85, 1.2), 0)
    roll = rng.random()
    if roll < 0.7:
        name = f"{rng.choice(ESPEAK_ACCENTS)}+{rng.choice(ESPEAK_VARIANTS)}"
        return Voice("espeak-ng", name, rng.uniform(120, 230), rng.randint(20, 80))
    if roll < 0.92:
        pitch = rng.choice((0, 0, rng.randint(80, 200)))
        return Voice("flite", rng.choice(FLITE_SEEN), rng.uniform(0.8, 1.25), pitch)
    return Voice("festival", FESTIVAL_SEEN[0], rng.uniform(0.85, 1.2), 0)


def render(voice: Voice, text: str) -> np.ndarray:
    """int16 mono samples at 16 kHz of `voice` saying `text`."""
    if voice.engine == "kokoro":
        return kokoro.render(voice.name, voice.speed, text)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        script = Path(tmp) / "text.txt"  # a file, never argv: text may start with "-"
        script.write_text(text + "\n")
        subprocess.run(_command(voice, script, out), check=True, capture_output=True, timeout=120)
        return _read_16k(out)


def _command(voice: Voice, script: Path, out: Path) -> list[str]:
    if voice.engine == "espeak-ng":
        return [
            "espeak-ng",
            "-v",
            voice.name,
            "-s",
            str(int(voice.speed)),
            "-p",
            str(voice.pitch),
            "-w",
            str(out),
            "-f",
            str(script),
        ]
    if voice.engine == "flite":
        command = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={voice.speed:.3f}"]
        if voice.pitch:
            command += ["--setf", f"int_f0_target_mean={voice.pitch}"]
        return [*command, "-f", str(script), "-o", str(out)]
    return [
        "text2wave",
        "-eval",
        f"(voice_{voice.name})",
        "-eval",
        f"(Parameter.set 'Duration_Stretch {voice.speed:.3f})",
        "-o",
        str(out),
        str(script),
    ]


def _read_16k(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        blocks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
    raw = np.concatenate(blocks)
    samples = raw.astype(np.float32) / (32768.0 if raw.dtype == np.int16 else 1.0)
    if rate != RATE:
        samples = soxr.resample(samples, rate, RATE, quality="HQ")
    return np.clip(samples * 32767, -32768, 32767).astype(np.int16)
