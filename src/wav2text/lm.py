"""Beam search with a word n-gram language model: the CTC path a KenLM model prefers.

The decoding itself is flashlight-text's lexicon beam search (the C++ decoder torchaudio
wraps; pyctcdecode, the other choice, pins numpy<2). What it lacks, and this module adds:
finding the LM a model ships (the `language_model/` folder of Hugging Face repos made with
Wav2Vec2ProcessorWithLM, read with pyctcdecode's conventions), spelling its words with the
model's tokens, and returning one token per frame, so that timestamps and confidences come
from the same code as greedy decoding.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .ctc import Vocabulary, spell
from .errors import Fix, ModelLoadError, OptionsError
from .options import ModelOptions

if TYPE_CHECKING:
    from .model import CTCModel

LM_FOLDER = "language_model"  # beside config.json in a model repo or directory
KENLM_SUFFIXES = (".arpa", ".arpa.gz", ".bin")
DEFAULT_ALPHA = 0.5  # pyctcdecode's defaults, for an LM that ships without attrs.json
DEFAULT_BETA = 1.5
# Pruning, measured on the demo model's test splits (training/README.md step 8): against
# flashlight's wide defaults (every token, hypotheses within 25 nats of the best) these
# made beam 50 2.6x faster at the same CER (0.0716 vs 0.0725).
TOKENS_PER_FRAME = 8  # the likeliest tokens of each frame that may extend a hypothesis
BEAM_THRESHOLD = 15.0  # hypotheses this far (natural log) below the best are dropped
_NEVER = -70.0  # log-probability of a token the appended word-end frame cannot hold
INSTALL_HINT = (
    "beam search with a language model needs flashlight-text: pip install flashlight-text "
    "(wheels for Python 3.10-3.12)"
)


@dataclass(frozen=True)
class LanguageModelFiles:
    """A KenLM model, the words it knows, and the weights it was tuned with.

    alpha weighs the LM's natural-log probability against the acoustic one, beta is
    added per word (pyctcdecode's names and scales, as in the hub's attrs.json)."""

    kenlm: Path
    words: tuple[str, ...]
    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA


def read_language_model(path: Path) -> LanguageModelFiles:
    """A `language_model/` folder (a KenLM file, unigrams.txt, attrs.json), or one ARPA file."""
    if not path.exists():
        raise ModelLoadError(
            f"language model {path} does not exist; pass a language_model/ folder or an ARPA "
            "file, or decode greedily with lm=None (--lm none)"
        )
    if path.is_file():
        if path.name.endswith(".bin"):
            raise ModelLoadError(
                f"{path}: a binary KenLM file does not list its words; put it in a folder "
                "beside unigrams.txt (one word per line), or pass the ARPA file"
            )
        return LanguageModelFiles(path, arpa_unigrams(path))
    kenlm = _kenlm_file(path)
    unigrams = path / "unigrams.txt"
    if unigrams.exists():
        words = tuple(w for w in unigrams.read_text(encoding="utf-8").split() if w)
    elif not kenlm.name.endswith((".arpa", ".arpa.gz")):
        raise ModelLoadError(
            f"{path} holds {kenlm.name}, not an ARPA file that lists its words, and no unigrams.txt"
        )
    else:
        words = arpa_unigrams(kenlm)
    attrs = path / "attrs.json"
    weights = json.loads(attrs.read_text()) if attrs.exists() else {}
    return LanguageModelFiles(
        kenlm,
        words,
        float(weights.get("alpha", DEFAULT_ALPHA)),
        float(weights.get("beta", DEFAULT_BETA)),
    )


def _kenlm_file(folder: Path) -> Path:
    """The folder's one file besides attrs.json and unigrams.txt (pyctcdecode's rule)."""
    found = sorted(
        p
        for p in folder.iterdir()
        if p.name not in ("attrs.json", "unigrams.txt") and not p.name.startswith((".", "__"))
    )
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "nothing"
        raise ModelLoadError(
            f"{folder}: a language model folder holds one KenLM model "
            f"({', '.join(KENLM_SUFFIXES)}) beside attrs.json and unigrams.txt; found {names}"
        )
    return found[0]


def arpa_unigrams(path: Path) -> tuple[str, ...]:
    """The words of an ARPA file's 1-grams section (sentence markers left out)."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    words: list[str] = []
    with opener(path, "rt", encoding="utf-8") as lines:
        inside = False
        for line in lines:
            if line.startswith("\\"):
                if inside:
                    break
                inside = line.strip() == "\\1-grams:"
            elif inside and line.strip():
                word = line.split()[1]
                if word not in ("<s>", "</s>", "<unk>"):
                    words.append(word)
    if not words:
        raise ModelLoadError(f"{path}: no 1-grams found; is it an ARPA language model?")
    return tuple(words)


def find_language_model(
    requested: str | Path | None, location: str, revision: str | None
) -> Path | None:
    """The LM to decode with: "auto" looks for the model's own folder; None: none."""
    if requested is None:
        return None
    if str(requested) != "auto":
        return Path(requested)
    if Path(location).is_dir():
        folder = Path(location) / LM_FOLDER
        return folder if folder.is_dir() else None
    return _hub_language_model(location, revision)


def _hub_language_model(repo: str, revision: str | None) -> Path | None:
    """The repo's language_model/ folder, from the cache or the hub; None if it has none."""
    from huggingface_hub import constants, snapshot_download

    for local_only in (True, False):
        if not local_only and constants.HF_HUB_OFFLINE:
            break
        try:
            root = snapshot_download(
                repo,
                revision=revision,
                allow_patterns=[f"{LM_FOLDER}/*"],
                local_files_only=local_only,
            )
        except Exception:  # unreachable, not cached, gated...: then the model has no LM
            continue
        folder = Path(root) / LM_FOLDER
        if folder.is_dir():
            return folder
    return None


def lm_argument(text: str) -> str | None:
    """A command line's --lm value as ModelOptions.lm: "none" means greedy decoding."""
    return None if text == "none" else text


class LanguageModelWarning(UserWarning):
    """A model ships a language model that cannot be used here; decoding is greedy."""


def load_beam_search(options: ModelOptions, model: CTCModel) -> BeamSearch | None:
    """The decoder ModelOptions ask for: a BeamSearch, or None for greedy decoding."""
    path = find_language_model(options.lm, model.location, options.revision)
    if path is None:
        return None
    files = read_language_model(path)
    if options.lm == "auto" and flashlight() is None:
        warnings.warn(
            f"{model.name} ships a language model, decoded greedily instead: {INSTALL_HINT}",
            LanguageModelWarning,
            stacklevel=3,
        )
        return None
    return BeamSearch(files, model.vocab, options.beam_size, options.lm_alpha, options.lm_beta)


def flashlight() -> Any | None:
    """flashlight-text's decoder module, or None where it cannot be imported (Python 3.13)."""
    try:
        from flashlight.lib.text import decoder
    except ImportError:
        return None
    return decoder


class BeamSearch:
    """Decodes (frames, vocab) log-probabilities into a path of one token per frame."""

    def __init__(
        self,
        files: LanguageModelFiles,
        vocab: Vocabulary,
        beam_size: int = 100,
        alpha: float | None = None,
        beta: float | None = None,
    ) -> None:
        fl = flashlight()
        if fl is None:
            raise ModelLoadError(INSTALL_HINT)
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary

        if vocab.delimiter is None:
            raise ModelLoadError(
                "this model's vocabulary has no word delimiter, so a word language model "
                "cannot tell where its words end",
                Fix(
                    "decode without one: lm=None",
                    "decode without one: --lm none",
                    "start the server with --lm none",
                ),
            )
        self.vocab, self.files, self.delimiter = vocab, files, vocab.delimiter
        self._lock = threading.Lock()
        self.description = f"beam search ({beam_size}), LM {files.kenlm}"
        spellings = spell_words(files.words, vocab)
        if not spellings:
            raise ModelLoadError(
                f"{files.kenlm}: none of its words can be spelled with the model's tokens; "
                "the language model belongs to another alphabet or model"
            )
        words = Dictionary([*spellings, "<unk>"])
        words.set_default_index(words.get_index("<unk>"))
        with _quiet_stderr():  # KenLM prints a progress bar while it reads
            try:
                self.lm = KenLM(str(files.kenlm), words)
            except RuntimeError as err:  # KenLM's own: a file it cannot load as a model
                said = str(err).strip().splitlines()[-1]
                raise ModelLoadError(
                    f"{files.kenlm}: KenLM cannot load this language model ({said}); build "
                    "it again (an n-gram model of order 2 or more, e.g. with KenLM's lmplz "
                    "-o 3), or decode without one: lm=None (--lm none)"
                ) from err
        self.spellings = {words.get_index(word): s for word, s in spellings.items()}
        self._words, self.unknown = words, words.get_index("<unk>")
        # flashlight weighs KenLM's log10 scores; pyctcdecode's alpha weighs natural logs.
        lm_weight = (files.alpha if alpha is None else alpha) * math.log(10)
        self.lm_weight = lm_weight
        self._options = fl.LexiconDecoderOptions(
            beam_size=beam_size,
            beam_size_token=min(TOKENS_PER_FRAME, len(vocab.tokens)),
            beam_threshold=BEAM_THRESHOLD,
            lm_weight=lm_weight,
            word_score=files.beta if beta is None else beta,
            unk_score=-math.inf,
            sil_score=0.0,
            log_add=False,
            criterion_type=fl.CriterionType.CTC,
        )
        self.decoder, self._trie = self.decoder_over(self.lm, self.spellings)

    def decoder_over(self, lm: Any, spellings: dict[int, list[int]]) -> tuple[Any, Any]:
        """A lexicon decoder over these words (index -> spelling), scored by `lm`."""
        fl = flashlight()
        assert fl is not None
        trie = fl.Trie(len(self.vocab.tokens), self.delimiter)
        start = lm.start(False)
        for index, spelling in spellings.items():
            trie.insert(spelling, index, lm.score(start, index)[1])
        trie.smear(fl.SmearingMode.MAX)
        decoder = fl.LexiconDecoder(
            self._options, trie, lm, self.delimiter, self.vocab.blank, self.unknown, [], False
        )
        return decoder, trie  # the decoder holds the trie only on the C++ side: keep both

    def word_index(self, word: str) -> int:
        """The LM's index of `word` as written or in either case (spell_words' rule)."""
        for form in (word, word.upper(), word.lower()):
            index = self._words.get_index(form)
            if index != self.unknown:
                return int(index)
        return int(self.unknown)

    def __call__(self, log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best path under acoustic and LM scores, and each frame's probability of it."""
        return search(self.decoder, self._lock, log_probs, self.vocab, lexicon=True)

    def check_vocabulary(self, vocab: Vocabulary) -> None:
        if vocab != self.vocab:
            raise OptionsError(
                "the language model was spelled with the vocabulary the model was loaded "
                "with; a multilingual model switched to another language needs its own "
                "Transcriber (and language model)"
            )


def search(
    decoder: Any, lock: threading.Lock, log_probs: np.ndarray, vocab: Vocabulary, lexicon: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A flashlight decoder's best path over (frames, tokens) log-probabilities, one token
    per frame, and each frame's probability of it. A lexicon search may still end inside a
    word; its letters so far are no word, so they are blanked."""
    frames, tokens = log_probs.shape
    if frames == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    assert vocab.delimiter is not None
    emissions = np.ascontiguousarray(log_probs, dtype=np.float32)
    padded = _with_word_end(emissions, vocab.delimiter)
    with lock:  # one decoder object, which keeps state during a search
        best = decoder.decode(padded.ctypes.data, len(padded), tokens)[0]
    ids = np.asarray(best.tokens[1:-1], dtype=np.int64)  # it pads a silence on each side
    if lexicon:
        finished = np.flatnonzero(np.asarray(best.words[1:-1]) >= 0)
        ids[finished[-1] + 1 if len(finished) else 0 :] = vocab.blank
    ids = ids[:frames]
    probs = np.exp(np.take_along_axis(emissions, ids[:, None], axis=-1)[:, 0])
    return ids, probs.astype(np.float32)


def _with_word_end(emissions: np.ndarray, delimiter: int) -> np.ndarray:
    """The frames plus one that can only hold a word delimiter.

    A word is finished by the delimiter its spelling ends with; where the audio stops right
    after the last word, emitting one in a blank frame costs more than leaving the word
    unfinished, and the word would be lost (seen-voice CER 0.069 -> 0.076 without this)."""
    end = np.full((1, emissions.shape[1]), _NEVER, dtype=np.float32)
    end[0, delimiter] = 0.0
    return np.ascontiguousarray(np.concatenate([emissions, end]))


def spell_words(words: tuple[str, ...], vocab: Vocabulary) -> dict[str, list[int]]:
    """Each word the vocabulary spells whole (ctc.spell's rule, every character a token):
    its token ids, then the delimiter."""
    end = [vocab.delimiter if vocab.delimiter is not None else vocab.blank]
    spellings: dict[str, list[int]] = {}
    for word in words:
        tokens, _ = spell(word, vocab)
        if tokens and len(tokens) == len(word):
            spellings[word] = [*tokens, *end]
    return spellings


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C++ libraries write there, below Python's sys.stderr),
    but only while no other thread runs: fd 2 is the whole process's, and
    another thread's errors must not vanish meanwhile (then KenLM's bar shows instead)."""
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    if any(t.name != "tqdm_monitor" for t in others):  # tqdm's sleeps; it never writes fd 2
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
