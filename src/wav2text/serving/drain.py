"""Restarts that lose nothing: on SIGTERM (or Ctrl-C) the server stops accepting, tells
every live stream to finish (each sends its last final and done events, then closes with
1012, "service restart"), lets requests in flight finish, then exits; all of it bounded by
`--drain-s`. A second signal exits at once."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import uvicorn

POLL_S = 0.05
SERVICE_RESTART = 1012  # WebSocket close code: the server is restarting; reconnect later
log = logging.getLogger("uvicorn.error")


class Drain:
    """What a live stream watches to learn that the server is going down."""

    def __init__(self) -> None:
        self.started = False  # a flag, not an asyncio.Event: tests serve from several loops
        self.streams = 0

    async def begun(self) -> None:
        """Returns once the server is going down."""
        while not self.started:
            await asyncio.sleep(POLL_S)

    async def streams_ended(self, limit_s: float) -> None:
        """Tell the streams, then wait until none is open (or `limit_s` passed)."""
        self.started = True
        deadline = time.monotonic() + limit_s
        while self.streams and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which on shutdown first ends live streams cleanly."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain
        self.drained = False  # every request and stream ended within the limit

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting first, as uvicorn's own shutdown would
        limit = self.config.timeout_graceful_shutdown or 0
        if self.drain.streams:
            log.info("Ending %d live stream(s) (up to %g s)", self.drain.streams, limit)
        await self.drain.streams_ended(limit)
        await super().shutdown(sockets)
        self.drained = not self.force_exit and not self.server_state.tasks
