"""Sentences for the demo model: English text from the fortune databases, normalised.

The vocabulary is that of facebook/wav2vec2-base-960h: A-Z, apostrophe and the word
delimiter. A sentence is kept only when every word will be spoken as written, so that
what the synthesiser says and the label agree: no digits, symbols, acronyms or
abbreviations (a TTS engine says "Mr." as "mister", "IBM" letter by letter).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FORTUNE_DIR = Path("/usr/share/games/fortunes")
_REJECT = re.compile(
    r"[0-9@#$%&*_=+<>|\\/{}\[\]~^]|\b[A-Z]{2,}\b|\b[A-Za-z]\.[A-Za-z]|\b(?:Mr|Mrs|Ms|Dr|St|Jr|vs|etc|Inc|Ltd)\."
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ATTRIBUTION = re.compile(r"\s--\s.*$|^--.*$")


def normalise(text: str) -> str:
    """Spoken words as the model spells them: upper case, letters and apostrophes."""
    text = text.upper().replace("-", " ").replace("\u2019", "'")
    words = (re.sub(r"[^A-Z']", "", word).strip("'") for word in text.split())
    return " ".join(word for word in words if word)


def fortune_sentences(
    directory: Path = FORTUNE_DIR, min_words: int = 3, max_words: int = 24
) -> list[str]:
    """Unique, speakable sentences, in a stable order."""
    seen: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix or not path.is_file():
            continue
        for quote in path.read_text(errors="ignore").split("\n%\n"):
            for sentence in _speakable(re.sub(r"\s+", " ", quote).strip()):
                seen.setdefault(normalise(sentence), sentence)
    return [s for key, s in sorted(seen.items()) if min_words <= len(key.split()) <= max_words]


def _speakable(quote: str) -> list[str]:
    quote = _ATTRIBUTION.sub("", quote)
    return [s for s in _SENTENCE_END.split(quote) if s and not _REJECT.search(s) and s.isascii()]


def is_held_out(sentence: str, share: float = 0.04) -> bool:
    """A fixed ~4 % of sentences, chosen by hash, never used in training."""
    digest = hashlib.sha1(normalise(sentence).encode()).digest()
    return int.from_bytes(digest[:4], "big") < share * 2**32
