"""Hotwords: words and phrases the user knows are coming, favoured by the beam search.

With the model's word language model, `BiasedSearch` is its lexicon beam search over the
LM's words plus the hotwords, each hotword's score raised where it ends (a hotword the LM
lacks is scored as its unknown word). Without one, `FreeSearch` is flashlight's
lexicon-free beam search over tokens, where a hypothesis spelling a hotword from a word's
start gains the hotword's weight letter by letter (so its beginning survives pruning) and
gives the gain back where it leaves it: pyctcdecode's rule for partial hotwords.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .ctc import Vocabulary
from .errors import OptionsError
from .lm import BEAM_THRESHOLD, TOKENS_PER_FRAME, BeamSearch, flashlight, search, spell_words
from .options import HOTWORD_WEIGHT, HOTWORD_WEIGHT_WITHOUT_LM

FREE_BEAM = 32  # hypotheses kept without an LM (measured in benchmarks/bench_hotwords.py)
MAX_HOTWORD_LISTS = 8  # searches kept, one per hotword list (each ~0.1 s to build with an LM)


@dataclass(frozen=True)
class Hotwords:
    """Words and phrases a search favours: each word of each gets `weight` (natural log)
    added to its score where it ends, and one the LM does not know is spelled all the same."""

    weighted: tuple[tuple[str, float], ...]  # (word or phrase, weight)

    def word_weights(self, vocab: Vocabulary) -> dict[str, tuple[list[int], float]]:
        """Each word of the phrases: its spelling (tokens, then the delimiter) and weight
        (the highest it is given)."""
        weights: dict[str, float] = {}
        for phrase, weight in self.weighted:
            for word in phrase.split():
                weights[word] = max(weight, weights.get(word, 0.0))
        spelled = spell_words(tuple(sorted(weights)), vocab)
        missing = [word for word in sorted(weights) if word not in spelled]
        if missing:
            raise OptionsError(
                f"hotword(s) {', '.join(missing)} hold letters this model cannot spell; "
                "write them in its alphabet (numbers as words)"
            )
        return {word: (spelled[word], weights[word]) for word in sorted(weights)}


class HotwordSearches:
    """The search that favours a hotword list: over the LM's words where the model has a
    BeamSearch, else over tokens. Made once per list and vocabulary, the last few kept."""

    def __init__(self, beam: BeamSearch | None) -> None:
        self.beam = beam
        self.default_weight = HOTWORD_WEIGHT if beam else HOTWORD_WEIGHT_WITHOUT_LM
        self._made: dict[tuple[Hotwords, Vocabulary], BiasedSearch | FreeSearch] = {}

    def __call__(self, hotwords: Hotwords, vocab: Vocabulary) -> BiasedSearch | FreeSearch:
        key = (hotwords, vocab)
        if key not in self._made:
            if len(self._made) >= MAX_HOTWORD_LISTS:
                self._made.pop(next(iter(self._made)))
            made = BiasedSearch(self.beam, hotwords) if self.beam else FreeSearch(vocab, hotwords)
            self._made[key] = made
        return self._made[key]


class BiasedSearch:
    """A BeamSearch's decoder over its words and the hotwords, scored by its LM plus each
    hotword's bonus. Called like the BeamSearch it was made from."""

    def __init__(self, base: BeamSearch, hotwords: Hotwords) -> None:
        spellings = dict(base.spellings)
        bonus: dict[int, float] = {}
        unknown: dict[int, int] = {}  # a word the LM lacks: its own index, scored as <unk>
        for word, (spelling, weight) in hotwords.word_weights(base.vocab).items():
            index = base.word_index(word)
            if index == base.unknown:
                index = len(spellings) + 1
                unknown[index] = base.unknown
                spellings[index] = spelling
            bonus[index] = weight / base.lm_weight
        self.lm = _hotword_lm_class()(base.lm, bonus, unknown)
        self.base, self._lock = base, threading.Lock()
        self.decoder, self._trie = base.decoder_over(self.lm, spellings)
        self.description = f"{base.description}, {len(bonus)} hotword(s)"

    def __call__(self, log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return search(self.decoder, self._lock, log_probs, self.base.vocab, lexicon=True)


@functools.cache
def _hotword_lm_class() -> type:
    from flashlight.lib.text.decoder import LM

    class HotwordLM(LM):
        """The model's LM, with a bonus on each hotword (in the LM's units); flashlight
        calls score() once per word a hypothesis ends, not per frame."""

        def __init__(self, inner: Any, bonus: dict[int, float], unknown: dict[int, int]):
            LM.__init__(self)
            self.inner, self.bonus, self.unknown = inner, bonus, unknown

        def start(self, start_with_nothing: bool) -> Any:
            return self.inner.start(start_with_nothing)

        def score(self, state: Any, index: int) -> tuple[Any, float]:
            after, score = self.inner.score(state, self.unknown.get(index, index))
            return after, score + self.bonus.get(index, 0.0)

        def finish(self, state: Any) -> tuple[Any, float]:
            return self.inner.finish(state)

    return HotwordLM


class FreeSearch:
    """Beam search over tokens with no word LM, favouring hotwords (see the module's
    docstring); called like a BeamSearch."""

    def __init__(self, vocab: Vocabulary, hotwords: Hotwords) -> None:
        fl = flashlight()
        if fl is None or vocab.delimiter is None:
            raise OptionsError(
                "hotwords without a language model need flashlight-text (pip install "
                "flashlight-text) and a model whose vocabulary marks word ends"
            )
        trie = _HotwordTrie(hotwords.word_weights(vocab))
        self.lm = _prefix_lm_class()(trie, vocab.delimiter)
        options = fl.LexiconFreeDecoderOptions(
            beam_size=FREE_BEAM,
            beam_size_token=min(TOKENS_PER_FRAME, len(vocab.tokens)),
            beam_threshold=BEAM_THRESHOLD,
            lm_weight=1.0,  # the trie's gains are natural logs, like the log-probabilities
            sil_score=0.0,
            log_add=False,
            criterion_type=fl.CriterionType.CTC,
        )
        self.decoder = fl.LexiconFreeDecoder(options, self.lm, vocab.delimiter, vocab.blank, [])
        self.vocab, self._lock = vocab, threading.Lock()
        self.description = f"beam search ({FREE_BEAM}), no LM, {len(trie.words)} hotword(s)"

    def __call__(self, log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return search(self.decoder, self._lock, log_probs, self.vocab, lexicon=False)


class _HotwordTrie:
    """The hotwords' spellings as a trie of token ids; node 0 is a word's start. A node's
    gain is the share of its best hotword's weight spelled by the time it is reached."""

    def __init__(self, words: dict[str, tuple[list[int], float]]) -> None:
        self.words = words
        self.children: list[dict[int, int]] = [{}]
        self.gain = [0.0]
        for spelling, weight in words.values():
            node = 0
            for depth, token in enumerate(spelling, 1):
                if token not in self.children[node]:
                    self.children[node][token] = len(self.gain)
                    self.children.append({})
                    self.gain.append(0.0)
                node = self.children[node][token]
                self.gain[node] = max(self.gain[node], weight * depth / len(spelling))


@functools.cache
def _prefix_lm_class() -> type:
    from flashlight.lib.text.decoder import LM, LMState

    class PrefixLM(LM):
        """A token LM over the hotword trie. Its states are the trie's nodes plus one for
        "inside a word that is no hotword"; hypotheses in the same node score alike from
        there on, so the decoder may keep the better of them."""

        def __init__(self, trie: _HotwordTrie, delimiter: int) -> None:
            LM.__init__(self)
            self.trie, self.delimiter = trie, delimiter
            self.states = [LMState() for _ in range(len(trie.gain) + 1)]
            self.node = {state: i for i, state in enumerate(self.states)}
            self.outside = len(trie.gain)  # inside another word until its delimiter

        def start(self, start_with_nothing: bool) -> Any:
            return self.states[0]

        def score(self, state: Any, token: int) -> tuple[Any, float]:
            node = self.node[state]
            trie = self.trie
            if node != self.outside:
                child = trie.children[node].get(token)
                if child is not None:
                    if token == self.delimiter:  # a hotword spelled whole: keep its gain
                        return self.states[0], trie.gain[child] - trie.gain[node]
                    return self.states[child], trie.gain[child] - trie.gain[node]
                given_back = -trie.gain[node]
            else:
                given_back = 0.0
            after = 0 if token == self.delimiter else self.outside
            return self.states[after], given_back

        def finish(self, state: Any) -> tuple[Any, float]:
            node = self.node[state]
            return state, 0.0 if node == self.outside else -self.trie.gain[node]

    return PrefixLM
