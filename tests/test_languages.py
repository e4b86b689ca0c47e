"""Multilingual adapter models (MMS): --language loads that language's adapter and vocabulary."""

from __future__ import annotations

import shutil
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

from conftest import noisy_tone
from tiny_models import VOCAB, make_multilingual_model
from wav2text import BUNDLED_MODEL, ModelOptions, RawFormat, TranscribeOptions, Transcriber
from wav2text.cli import main
from wav2text.errors import ModelLoadError, OptionsError
from wav2text.model import load_model

FRENCH = [*VOCAB, "É", "È", "À", "Ç"]


@pytest.fixture(scope="module")
def mms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_multilingual_model(tmp_path_factory.mktemp("mms"), {"eng": VOCAB, "fra": FRENCH})


def reference_log_probs(directory: Path, language: str, audio: np.ndarray) -> np.ndarray:
    """What transformers itself gives with the language chosen its documented way."""
    model = Wav2Vec2ForCTC.from_pretrained(
        directory, target_lang=language, ignore_mismatched_sizes=True
    ).eval()
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(directory)
    features = extractor(audio, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        logits = model(features.input_values).logits[0]
    return torch.log_softmax(logits, -1).numpy()


def test_a_language_gets_its_own_adapter_and_vocabulary(mms: Path) -> None:
    audio = noisy_tone(2.0, 16000).astype(np.float32)
    french = load_model(ModelOptions(str(mms), language="fra"))
    default = load_model(ModelOptions(str(mms)))
    assert french.vocab.tokens == tuple(FRENCH) and default.vocab.tokens == tuple(VOCAB)
    ours = french.log_probs(audio)
    np.testing.assert_allclose(ours, reference_log_probs(mms, "fra", audio), atol=1e-4)
    other = default.log_probs(audio)  # the default (English) adapter: other numbers
    assert other.shape[1] == len(VOCAB) and not np.allclose(ours[:, : len(VOCAB)], other)
    np.testing.assert_allclose(other, reference_log_probs(mms, "eng", audio), atol=1e-4)


def test_a_one_language_model_reports_the_language_it_says(tiny_dir: Path, tmp_path: Path) -> None:
    """The bundled model says "en" (its config); a local model's card may say it; a model
    that says nothing reports none (verbose_json: "unknown", not a guess)."""
    audio = noisy_tone(1.0, 16000)
    bundled = Transcriber(BUNDLED_MODEL).transcribe(audio, TranscribeOptions(sample_rate=16000))
    assert bundled.language == "en"
    assert (
        Transcriber(str(tiny_dir)).transcribe(audio, TranscribeOptions(sample_rate=16000)).language
        is None
    )
    carded = tmp_path / "carded"
    shutil.copytree(tiny_dir, carded)
    for card, said in [("language: de", "de"), ("language:\n- de", "de"), ("language: [de]", "de"),
                       ("language:\n- de\n- fr", None), ("license: mit", None)]:  # fmt: skip
        (carded / "README.md").write_text(f"---\n{card}\n---\n# a model\n")
        assert load_model(ModelOptions(str(carded))).spoken == said, card


def test_an_unknown_language_names_the_ones_there_are(mms: Path) -> None:
    with pytest.raises(ModelLoadError, match="has no language 'deu'; it has eng, fra"):
        load_model(ModelOptions(str(mms), language="deu"))


def test_a_one_language_model_refuses_a_language(tiny_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="has one language, so it takes no language='fra'"):
        load_model(ModelOptions(str(tiny_dir), language="fra"))
    with pytest.raises(ModelLoadError, match=r"^wav2text:demo-en has one language"):
        load_model(ModelOptions(BUNDLED_MODEL, language="fra"))


def test_cli_language(mms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "a.raw"
    wav.write_bytes((noisy_tone(1.0, 16000) * 20000).astype("<i2").tobytes())
    args = ["transcribe", str(wav), "--raw", "s16le", "--sample-rate", "16000", "-m", str(mms)]
    assert main([*args, "--language", "deu"]) == 2
    assert "has no language 'deu'" in capsys.readouterr().err
    assert main([*args, "--language", "fra", "-f", "json", "-o", str(tmp_path)]) == 0


def test_a_call_runs_in_its_language_and_the_model_keeps_its_own(mms: Path) -> None:
    """One loaded model serves every language: the adapter and vocabulary follow the call,
    with transformers' own numbers for each, and nothing shared is switched."""
    audio = noisy_tone(2.0, 16000).astype(np.float32)
    model = load_model(ModelOptions(str(mms)))
    assert (model.languages, model.language) == (["eng", "fra"], "eng")
    french = model.in_language("fr")  # ISO 639-1, as OpenAI clients send it
    assert french.code == "fra" and french.vocab.tokens == tuple(FRENCH)
    assert model.language == "eng" and model.vocab.tokens == tuple(VOCAB)
    np.testing.assert_allclose(
        model.log_probs_batch([audio], french.code)[0],
        reference_log_probs(mms, "fra", audio),
        atol=1e-4,
    )
    assert model.in_language(None).vocab.tokens == tuple(VOCAB)
    np.testing.assert_allclose(
        model.log_probs(audio), reference_log_probs(mms, "eng", audio), atol=1e-4
    )


def test_transcribe_options_choose_the_language(mms: Path) -> None:
    audio = noisy_tone(2.0, 16000)
    options = TranscribeOptions(sample_rate=16000, segmentation="window")
    loaded_french = Transcriber(ModelOptions(str(mms), language="fra")).transcribe(audio, options)
    transcriber = Transcriber(str(mms))
    english = transcriber.transcribe(audio, options)
    french = transcriber.transcribe(audio, replace(options, language="fra"))
    assert french.words and french.text == loaded_french.text != english.text
    assert [w.confidence for w in french.words] == [w.confidence for w in loaded_french.words]
    assert transcriber.transcribe(audio, options).text == english.text  # none named: loaded one


def test_a_call_for_a_language_the_model_lacks_is_refused(mms: Path, tiny_dir: Path) -> None:
    audio = noisy_tone(1.0, 16000)
    with pytest.raises(
        OptionsError, match=r"has no language 'de' \(deu in ISO 639-3\); it has eng, fra"
    ):
        Transcriber(str(mms)).transcribe(audio, TranscribeOptions(sample_rate=16000, language="de"))
    with pytest.raises(OptionsError, match="has one language, so it takes no language='fr'"):
        Transcriber(str(tiny_dir)).transcribe(
            audio, TranscribeOptions(sample_rate=16000, language="fr")
        )


def test_the_server_takes_the_language_of_each_request(mms: Path) -> None:
    from fastapi.testclient import TestClient

    from wav2text.serving.server import create_app

    body = (noisy_tone(2.0, 16000) * 20000).astype("<i2").tobytes()
    transcriber = Transcriber(str(mms))
    options = TranscribeOptions(sample_rate=16000, segmentation="window")
    as_raw = replace(options, raw=RawFormat("s16le", 1))
    expected = {
        code: Transcriber(ModelOptions(str(mms), language=code)).transcribe(body, as_raw).text
        for code in ("eng", "fra")
    }
    client = TestClient(create_app(transcriber, options))

    def ask(language: str | None) -> dict:
        fields = {"raw": "s16le", "response_format": "verbose_json"}
        fields |= {"language": language} if language else {}
        files = {"file": ("a.raw", body, "application/octet-stream")}
        return client.post("/v1/audio/transcriptions", data=fields, files=files).json()

    french, english, german = ask("fr"), ask("en"), ask("de")
    assert (french["text"], french["language"]) == (expected["fra"], "fra")
    assert (english["text"], english["language"]) == (expected["eng"], "eng")
    ask("fra")
    unnamed = ask(None)  # the language the server was started in, whatever came before
    assert (unnamed["text"], unnamed["language"]) == (expected["eng"], "eng")
    assert expected["fra"] != expected["eng"]
    assert "has no language 'de' (deu in ISO 639-3)" in german["error"]["message"]


def test_interleaved_calls_each_keep_their_language(mms: Path) -> None:
    """Two transcribe_many iterators on one model, advanced in turn: each call's transcripts
    are in its own language, whichever ran last."""
    clips = [noisy_tone(s, 16000) for s in (1.0, 1.5, 2.0)]
    options = TranscribeOptions(sample_rate=16000, segmentation="window")
    transcriber = Transcriber(str(mms))
    alone = {
        code: [t.text for t in transcriber.transcribe_many(clips, replace(options, language=code))]
        for code in ("eng", "fra")
    }
    english = transcriber.transcribe_many(clips, replace(options, language="eng"))
    french = transcriber.transcribe_many(clips, replace(options, language="fra"))
    turns = [(next(english).text, next(french).text) for _ in clips]
    assert [e for e, _ in turns] == alone["eng"] and [f for _, f in turns] == alone["fra"]
    assert alone["eng"] != alone["fra"]


def test_a_live_stream_beside_requests_in_another_language_keeps_its_own(
    mms: Path, speech_wav: Path
) -> None:
    """A live stream in the loaded language (English) runs on one thread while requests in
    French run on another; both give what they give alone."""
    import threading

    from wav2text.serving.live import LiveFormat, LiveStream

    transcriber = Transcriber(str(mms))
    with wave.open(str(speech_wav)) as wav:  # espeak-ng: 22.05 kHz mono s16le
        rate, speech = wav.getframerate(), wav.readframes(wav.getnframes())
    options = TranscribeOptions(sample_rate=16000, segmentation="window", language="fra")
    clips = [noisy_tone(s, 16000) for s in (1.0, 1.5, 2.0, 2.5)]

    def live() -> list[dict]:
        events: list[dict] = []
        stream = LiveStream(transcriber, LiveFormat("s16le", rate), emit=events.append)
        runner = threading.Thread(target=stream.run)
        runner.start()
        for start in range(0, len(speech), 3200):
            stream.feed(speech[start : start + 3200])
        stream.close()
        runner.join()
        kept = [e for e in events if e["type"] in ("final", "done")]
        return [{k: v for k, v in e.items() if k != "lag_s"} for e in kept]  # a timing

    alone_live = live()
    alone_french = [t.text for t in transcriber.transcribe_many(clips * 3, options)]
    french: list[str] = []
    beside = threading.Thread(
        target=lambda: french.extend(
            t.text for t in transcriber.transcribe_many(clips * 3, options)
        )
    )
    beside.start()
    together_live = live()
    beside.join()
    assert together_live == alone_live and french == alone_french
    assert alone_live[-1]["text"] and any(alone_french)


def test_hotwords_are_spelled_in_the_language_of_the_call(mms: Path) -> None:
    """Without an LM, a hotword search is over the call's tokens: a French hotword with an
    accent is spelled in French (a live stream's decoder comes from the same options), and
    refused in English, whose vocabulary lacks the letter."""
    transcriber = Transcriber(str(mms))
    french = transcriber.decode(TranscribeOptions(language="fr", hotwords=("Hélène",)))
    assert french.vocab == transcriber.model.in_language("fr").vocab  # type: ignore[attr-defined]
    with pytest.raises(OptionsError, match="cannot spell"):
        transcriber.decode(TranscribeOptions(hotwords=("Hélène",)))
