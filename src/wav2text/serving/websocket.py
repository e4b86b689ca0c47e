"""The live WebSocket of `wav2text serve`: `/v1/audio/stream` (protocol in docs/server.md).

The client declares its audio in the URL (`?format=s16le&sample_rate=48000&channels=1`:
headerless PCM at any rate and channel count; the server brings it to the model's rate as
it does for files), then sends binary frames of it, and `{"type": "stop"}` (or closes) at
the end. The server sends JSON events: `partial` (revised as audio arrives), `final` (a
stretch of speech closed by a pause, with word times and confidences), `error`, and `done`
with the whole text. A stream ends at the client's stop or disconnect, after
`stream_idle_s` without audio, or at `stream_max_s` of audio; past `max_streams` open
streams a new one is refused rather than left to fall behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from prometheus_client import Gauge

from ..errors import OptionsError, reason
from ..options import ServerLimits, TranscribeOptions, hotword_list
from ..pipeline import Transcriber
from ..rate import parse_rate
from .drain import SERVICE_RESTART, Drain
from .forms import check_rate_field
from .live import Event, LiveFormat, LiveStream

DECLARE = (
    "declare the audio when opening the stream: /v1/audio/stream?format=s16le"
    "&sample_rate=16000&channels=1 (format: a raw PCM format such as s16le or f32le; "
    "sample_rate: the rate it was captured at, any rate)"
)
POLICY = 1008  # WebSocket close codes: the client broke the protocol
TRY_LATER = 1013  # the server is at capacity


def add_stream_route(
    app: FastAPI,
    workers: Sequence[Transcriber],
    defaults: TranscribeOptions,
    limits: ServerLimits,
    open_streams: Gauge,
    drain: Drain,
) -> None:
    slots = threading.Semaphore(limits.max_streams)
    turns = itertools.cycle(workers)  # streams spread over the replicas in turn

    @app.websocket("/v1/audio/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            query = dict(websocket.query_params)
            audio = _declared(query)
            options = replace(
                defaults,
                hotwords=defaults.hotwords + hotword_list(query.get("hotwords", "")),
                check_rate=_check_rate(query),
            )
            if options.hotwords:
                next(iter(workers)).decode(options)  # hotwords it cannot take: refused here
        except Exception as error:
            return await _refuse(websocket, f"{reason(error, 'http')}; {DECLARE}", POLICY)
        if not slots.acquire(blocking=False):
            return await _refuse(
                websocket,
                f"the server is at capacity ({limits.max_streams} live streams); retry "
                "later, or start it with a larger --max-streams",
                TRY_LATER,
            )
        open_streams.inc()
        drain.streams += 1
        try:
            runner = LiveStreamRunner(next(turns), audio, options)
            await _serve(websocket, runner, limits, drain)
        finally:
            drain.streams -= 1
            open_streams.dec()
            slots.release()


def _check_rate(query: dict[str, str]) -> bool | Literal["strict"] | None:
    """?check_rate=false turns the declared rate's check off (true, or absent: on; strict:
    a mismatch ends the stream with an error event)."""
    return check_rate_field(query["check_rate"]) if "check_rate" in query else None


def _declared(query: dict[str, str]) -> LiveFormat:
    if "format" not in query or "sample_rate" not in query:
        raise OptionsError("the stream declares no audio format or sample rate")
    rate = parse_rate(query["sample_rate"])
    if rate == "auto":
        raise OptionsError("a live stream needs its rate: auto estimates it from a whole file")
    channels = query.get("channels", "1")
    if not (channels.isascii() and channels.isdigit() and len(channels) < 3):
        raise OptionsError(f"channels must be a whole number of 1..64, not {channels[:20]!r}")
    return LiveFormat(query["format"], rate, int(channels))


async def _refuse(websocket: WebSocket, message: str, code: int) -> None:
    await websocket.send_json({"type": "error", "message": message})
    await websocket.close(code)


class LiveStreamRunner:
    """A LiveStream run on a thread of its own, its events handed to the event loop."""

    def __init__(self, transcriber: Transcriber, audio: LiveFormat, defaults: TranscribeOptions):
        self.events: asyncio.Queue[Event | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def emit(event: Event | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
                loop.call_soon_threadsafe(self.events.put_nowait, event)

        self.live = LiveStream(transcriber, audio, defaults, emit)
        self.thread = threading.Thread(target=self._run, args=(emit,), daemon=True)
        self.thread.start()

    def _run(self, emit: Any) -> None:
        try:
            self.live.run()
        except Exception as error:  # this stream's, said to its client; the server goes on
            emit({"type": "error", "message": reason(error, "http")})
        finally:
            emit(None)


async def _serve(
    websocket: WebSocket, runner: LiveStreamRunner, limits: ServerLimits, drain: Drain
) -> None:
    sender = asyncio.create_task(_send(websocket, runner))
    receiver = asyncio.create_task(_receive(websocket, runner, limits))
    draining = asyncio.create_task(drain.begun())
    try:  # the server going down ends the stream as the client's stop would, and a
        # stream that failed (its error event sent) stops taking audio
        await asyncio.wait({receiver, draining, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (receiver, draining):
            task.cancel()
        runner.live.close()
        await sender  # the last final and done events
    code = SERVICE_RESTART if drain.started else 1000
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client closed it
        await websocket.close(code)


async def _receive(websocket: WebSocket, runner: LiveStreamRunner, limits: ServerLimits) -> None:
    live = runner.live
    while True:
        try:
            message = await asyncio.wait_for(websocket.receive(), limits.stream_idle_s)
        except TimeoutError:
            return await _say(runner, f"no audio for {limits.stream_idle_s:g} s: stream closed")
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes"):
            room = live.bytes_until(limits.stream_max_s)  # cut at the sample, not the frame
            live.feed(message["bytes"][:room])
            if len(message["bytes"]) > room:
                return await _say(
                    runner,
                    f"the stream reached its maximum of {limits.stream_max_s:g} s of audio; "
                    "open a new one (or start the server with a larger --stream-max)",
                )
        elif message.get("text") is not None:
            if _is_stop(message["text"]):
                return
            await _say(runner, UNKNOWN_TEXT)


UNKNOWN_TEXT = (
    'a text message other than {"type": "stop"} was ignored: send audio as binary frames '
    'and {"type": "stop"} to end the stream'
)


def _is_stop(text: str) -> bool:
    try:
        return json.loads(text).get("type") == "stop"
    except (ValueError, AttributeError):
        return False


async def _say(runner: LiveStreamRunner, message: str) -> None:
    await runner.events.put({"type": "error", "message": message})


async def _send(websocket: WebSocket, runner: LiveStreamRunner) -> None:
    while (event := await runner.events.get()) is not None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the client left:
            await websocket.send_json(event)  # the stream still winds down
