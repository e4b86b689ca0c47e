"""The page at / in a real browser: Debian's headless Chromium, driven by selenium through
Debian's chromedriver (nothing downloaded), with a fake microphone playing a speech file.

Screenshots are saved under $WAV2TEXT_ARTIFACTS (default: the test's temporary folder)."""

from __future__ import annotations

import os
import shutil
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import REQUIRE_TOOLS, serving
from test_streaming import speech
from wav2text import BUNDLED_MODEL, Transcriber

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if REQUIRE_TOOLS:
        raise RuntimeError("the browser tests need chromium and chromium-driver (apt)")
    pytest.skip("chromium and chromium-driver are not installed", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page") / "speech.wav"
    samples = (np.concatenate([np.zeros(8000), speech(), np.zeros(16000)]) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(samples.tobytes())
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    from wav2text.serving.server import create_app

    with serving(create_app(Transcriber(BUNDLED_MODEL))) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture()
def browser(speech_wav: Path, tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech_wav}%noloop",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def artefact(driver: Any, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("WAV2TEXT_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))


def wait(condition: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def words(driver: Any) -> list[str]:
    return [w.text for w in driver.find_elements("css selector", "#transcript .word")]


def test_upload_read_play_and_seek(
    browser: Any, server: str, speech_wav: Path, tmp_path: Path
) -> None:
    browser.get(server)
    wait(lambda: browser.find_element("id", "model").text == BUNDLED_MODEL)
    browser.find_element("id", "file-input").send_keys(str(speech_wav))
    wait(lambda: words(browser))
    assert words(browser)[:5] == ["NEVER", "GO", "TO", "BED", "MAD"]
    facts = browser.find_element("id", "facts").text
    assert "16000 Hz (header)" in facts and "pcm_s16le" in facts
    artefact(browser, "page-file", tmp_path)
    spans = browser.find_elements("css selector", "#transcript .word")
    spans[0].click()  # seek to the first word and play
    first = wait(lambda: browser.find_elements("css selector", ".word.current"))[0].text
    later = wait(
        lambda: [
            w.text
            for w in browser.find_elements("css selector", ".word.current")
            if w.text != first
        ],
        10,
    )
    assert later, "the highlight moves on as the audio plays"
    spans[-1].click()  # seek far ahead: the last word lights
    wait(lambda: spans[-1].get_attribute("class").endswith("current"), 10)
    artefact(browser, "page-playing", tmp_path)


def test_record_partial_then_final_words(browser: Any, server: str, tmp_path: Path) -> None:
    browser.get(server)
    browser.find_element("id", "record").click()
    wait(lambda: "listening" in browser.find_element("id", "live-status").text, 15)
    partial = wait(lambda: browser.find_element("id", "live-partial").text, 30)
    artefact(browser, "page-live-partial", tmp_path)
    final = wait(lambda: browser.find_element("id", "live-final").text, 30)
    assert partial and final.startswith("NEVER GO TO BED")
    wait(lambda: "QUICK" in browser.find_element("id", "live-final").text, 30)
    browser.find_element("id", "record").click()  # stop
    wait(lambda: "done" in browser.find_element("id", "live-status").text, 30)
    rate = browser.execute_script("return new AudioContext().sampleRate")
    assert f"resample {rate}->16000 Hz" in browser.find_element("id", "facts").text
    assert words(browser)[:4] == ["NEVER", "GO", "TO", "BED"]
    assert browser.execute_script("return document.getElementById('player').src").startswith(
        "blob:"
    )
    time.sleep(1.0)  # the audio worklet went on posting here, into a stream that had ended
    assert console_errors(browser) == []
    artefact(browser, "page-live-done", tmp_path)


def test_the_page_fits_a_phone(browser: Any, server: str, tmp_path: Path) -> None:
    """A 390 x 844 phone screen, emulated as Chromium's device mode does (a window that
    small is not: headless Chromium keeps a 500 px minimum)."""
    metrics = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(server)
    assert browser.execute_script("return window.innerWidth") == 390
    wide = browser.execute_script("return document.documentElement.scrollWidth")
    assert wide <= 390
    artefact(browser, "page-phone", tmp_path)


def test_a_failed_upload_clears_the_last_result_and_the_result_is_in_view(
    browser: Any, server: str, speech_wav: Path, tmp_path: Path
) -> None:
    browser.set_window_size(1280, 800)
    browser.get(server)
    browser.find_element("id", "file-input").send_keys(str(speech_wav))
    wait(lambda: words(browser))
    top = "return document.getElementById('transcript').getBoundingClientRect().top"
    wait(lambda: 0 <= browser.execute_script(top) < browser.execute_script(
        "return window.innerHeight"), 5)  # fmt: skip
    notes = tmp_path / "notes.txt"
    notes.write_text("these are words, not sounds " * 40)
    browser.find_element("id", "file-input").send_keys(str(notes))
    error = wait(lambda: browser.find_element("id", "file-error").text)
    assert "notes.txt" in error and "send the form fields" in error
    assert "--raw" not in error and "RawFormat" not in error  # the page's words, not the CLI's
    assert browser.find_element("id", "result").get_attribute("hidden") is not None
    assert browser.execute_script("return document.getElementById('player').paused")


def test_the_page_asks_for_nothing_that_is_missing(browser: Any, server: str) -> None:
    """No 404 on load (the favicon included: Chromium asks for /favicon.ico unless the page
    names an icon), counted by the server's own metrics."""
    import httpx

    def not_found() -> float:
        text = httpx.get(f"{server}/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("wav2text_requests_total") and 'status="404"' in line
        )

    before = not_found()
    browser.get(server)
    wait(lambda: browser.find_element("id", "model").text == BUNDLED_MODEL)
    time.sleep(1.0)  # the icon is asked for after the load
    assert not_found() == before
    assert httpx.get(f"{server}/favicon.ico").status_code == 404  # the control: it counts
    assert not_found() == before + 1
