"""Hotwords: words the user knows are coming, favoured by the beam search with the model's
LM (and spelled when the LM does not know them), on every surface; a hotword absent from
the audio is not inserted."""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import need_tool
from wav2text import BUNDLED_MODEL, ModelOptions, OptionsError, TranscribeOptions, Transcriber
from wav2text.cli import main
from wav2text.options import hotword_list, prompt_hotwords, weighted_hotwords
from wav2text.serving.server import create_app

URL = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def name_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A name no LM knows, which the demo model hears as other words."""
    need_tool("espeak-ng")
    path = tmp_path_factory.mktemp("hotwords") / "name.wav"
    text = "please call zorblax at noon tomorrow"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    return path


def text(demo: Transcriber, path: Path, *hotwords: str, weight: float = 8.0) -> str:
    options = TranscribeOptions(hotwords=hotwords, hotword_weight=weight)
    return demo.transcribe(path, options).text


def test_a_name_the_lm_lacks_is_spelled_with_a_hotword(demo: Transcriber, name_wav: Path) -> None:
    assert "ZORBLAX" not in text(demo, name_wav)  # the control: without it, other words
    assert "ZORBLAX" in text(demo, name_wav, "Zorblax").split()
    assert "ZORBLAX" not in text(demo, name_wav, "Zorblax", weight=2.0)  # too weak to win


def test_an_absent_hotword_is_not_inserted(demo: Transcriber, name_wav: Path) -> None:
    plain = text(demo, name_wav)
    for hotword in ("Quentin", "Kettleburn", "Ahab"):
        assert text(demo, name_wav, hotword, weight=12.0) == plain


def test_a_phrase_and_per_word_weights(demo: Transcriber, name_wav: Path) -> None:
    assert "ZORBLAX" in text(demo, name_wav, "call Zorblax").split()
    assert "ZORBLAX" in text(demo, name_wav, "Zorblax:10", weight=0.0).split()
    assert weighted_hotwords(("a b:3", "c", "d:x"), 8.0) == (("a b", 3.0), ("c", 8.0), ("d:x", 8.0))


def test_bad_hotwords_are_refused_with_the_fix(demo: Transcriber, name_wav: Path) -> None:
    with pytest.raises(OptionsError, match="tuple of words"):
        TranscribeOptions(hotwords="Ahab")  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="holds no word"):
        TranscribeOptions(hotwords=("42",))
    with pytest.raises(OptionsError, match="cannot spell"):
        text(demo, name_wav, "Zürich")


@pytest.fixture(scope="module")
def no_lm() -> Transcriber:
    return Transcriber(ModelOptions(BUNDLED_MODEL, lm=None))


def test_without_an_lm_hotwords_take_a_beam_search_over_tokens(
    no_lm: Transcriber, name_wav: Path
) -> None:
    plain = no_lm.transcribe(name_wav)
    assert plain.decoder == "greedy" and "ZORBLAX" not in plain.text.split()
    favoured = no_lm.transcribe(name_wav, TranscribeOptions(hotwords=("Zorblax",)))
    assert "ZORBLAX" in favoured.text.split()
    assert favoured.decoder == "beam search (32), no LM, 1 hotword(s)"
    assert "ZORBLAX" not in text(no_lm, name_wav, "Zorblax", weight=2.0).split()  # too weak


def test_without_an_lm_an_absent_hotword_is_not_inserted(
    no_lm: Transcriber, name_wav: Path
) -> None:
    unbiased = text(no_lm, name_wav, "Zorblax", weight=0.0)  # the same search, no bonus
    assert unbiased == no_lm.transcribe(name_wav).text  # ... which reads as greedy does here
    for hotword in ("Quentin", "Kettleburn", "Ahab", "Calloway"):
        options = TranscribeOptions(hotwords=(hotword,))  # the default weight, 20
        assert no_lm.transcribe(name_wav, options).text == unbiased


def test_a_hotword_prefix_left_unfinished_gives_its_gain_back() -> None:
    """The token LM behind the search without an LM: spelling ZORB then leaving the word
    nets nothing; ZORBLAX whole, then a delimiter, nets its weight."""
    from wav2text.hotwords import Hotwords, _HotwordTrie, _prefix_lm_class

    vocab = Transcriber(ModelOptions(BUNDLED_MODEL, lm=None)).model.vocab
    assert vocab.delimiter is not None
    ids = {token: i for i, token in enumerate(vocab.tokens)}
    trie = _HotwordTrie(Hotwords((("Zorblax", 10.0),)).word_weights(vocab))
    lm = _prefix_lm_class()(trie, vocab.delimiter)

    def total(spelled: str) -> float:
        state, score = lm.start(False), 0.0
        for char in spelled:
            state, gained = lm.score(state, ids[char])
            score += gained
        return score + lm.finish(state)[1]

    assert total("ZORBLAX|") == pytest.approx(10.0)
    assert total("ZORB|") == pytest.approx(0.0)
    assert total("ZORBS|") == pytest.approx(0.0)
    assert total("AZORBLAX|") == pytest.approx(0.0)  # a hotword starts where a word does
    assert total("ZORB") == pytest.approx(0.0)  # the audio ends mid-word


def test_cli_hotword_and_file(
    name_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base = ["transcribe", str(name_wav), "-m", BUNDLED_MODEL]
    assert main([*base, "--hotword", "Zorblax:9"]) == 0
    assert "ZORBLAX" in capsys.readouterr().out
    listed = tmp_path / "hotwords.txt"
    listed.write_text("# names\nZorblax\nQuentin:4\n")
    assert main([*base, "--hotwords-file", str(listed), "--hotword-weight", "9"]) == 0
    assert "ZORBLAX" in capsys.readouterr().out
    assert main([*base, "--hotword", "Zürich"]) == 2
    assert "cannot spell" in capsys.readouterr().err
    assert main([*base, "--lm", "none", "--hotword", "Zorblax"]) == 0  # the default, 20
    assert "ZORBLAX" in capsys.readouterr().out


def test_server_hotwords_field_and_prompt(demo: Transcriber, name_wav: Path) -> None:
    client = TestClient(create_app(demo, TranscribeOptions(hotword_weight=9)))

    def ask(**fields: str) -> dict:
        with name_wav.open("rb") as file:
            return client.post(URL, files={"file": ("a.wav", file)}, data=fields).json()

    assert "ZORBLAX" not in ask()["text"]
    assert "ZORBLAX" in ask(hotwords="Quentin, Zorblax")["text"]
    assert "ZORBLAX" in ask(prompt="A call from Zorblax.")["text"]  # OpenAI's prompt
    refused = ask(hotwords="Zürich")
    assert refused["error"]["param"] == "hotwords" and "cannot spell" in refused["error"]["message"]
    assert prompt_hotwords("Call the Zorblax office, and Zorblax's desk.") == (
        "Call", "Zorblax", "office", "Zorblax's", "desk",
    )  # fmt: skip
    assert hotword_list("a, b\nc:3,,") == ("a", "b", "c:3")


def test_live_stream_hotwords(demo: Transcriber, name_wav: Path) -> None:
    client = TestClient(create_app(demo))
    with wave.open(str(name_wav)) as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())

    def final_text(query: str) -> str:
        url = f"/v1/audio/stream?format=s16le&sample_rate={rate}{query}"
        with client.websocket_connect(url) as socket:
            for i in range(0, len(pcm), 3200):
                socket.send_bytes(pcm[i : i + 3200])
            socket.send_text(json.dumps({"type": "stop"}))
            events = [socket.receive_json()]
            while events[-1]["type"] != "done":
                events.append(socket.receive_json())
        assert not [e for e in events if e["type"] == "error"], events
        return str(events[-1]["text"])

    assert "ZORBLAX" not in final_text("")
    assert "ZORBLAX" in final_text("&hotwords=Zorblax:9")


def test_a_prompt_word_the_model_cannot_spell_is_left_out(
    demo: Transcriber, name_wav: Path
) -> None:
    client = TestClient(create_app(demo, TranscribeOptions(hotword_weight=9)))
    with name_wav.open("rb") as file:
        answer = client.post(
            URL, files={"file": ("a.wav", file)}, data={"prompt": "Zürich, Zorblax"}
        )
    assert answer.status_code == 200 and "ZORBLAX" in answer.json()["text"]
