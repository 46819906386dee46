"""The boards component's long-lived parts, wired together and kept in ``services.extras["boards"]``."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from display.frames import FrameService
from display.health import BoardHealth, HealthCollector
from display.messages import MessageBook
from display.metrics import BoardMetrics
from display.registry import Board, BoardRegistry
from transit.app.services import Services

log = logging.getLogger(__name__)

BOARDS = web.AppKey("boards", object)


class Boards:
    def __init__(self, services: Services) -> None:
        s = services.settings
        self.services = services
        self.clock = services.clock
        self.registry = BoardRegistry()
        self.messages = MessageBook()
        self.health = BoardHealth(self.registry, s.boards.online_intervals, mqtt_enabled=s.mqtt.url is not None)
        self.frames = FrameService(services.snapshots, services.schedule, self.messages, services.clock,
                                   arriving_s=s.boards.arriving_s, stale_s=s.tracking.prediction_stale_s,
                                   timezone=s.timezone)
        self.metrics = BoardMetrics(services.registry)
        self.frames.on_render = self.metrics.renders.inc
        services.registry.register(HealthCollector(self.health, self.registry, services.clock))
        self.publisher: Any = None  # display.mqtt.MqttPublisher when TRANSIT_MQTT_URL is set
        self.trust_forwarded_for = s.api.trust_forwarded_for
        #: board_id -> (the Board it was checked against, the key that passed), so a board's
        #: next polls compare strings in constant time instead of recomputing the HMAC
        self._accepted: dict[str, tuple[Board, str]] = {}
        self.registry.subscribe(lambda: self.frames.forget([b.board_id for b in self.registry.list()]))

    def key_accepted(self, board: Board, presented: str | None) -> bool:
        if presented is None:
            return False
        known = self._accepted.get(board.board_id)
        if known is not None and known[0] is board:
            try:
                return hmac.compare_digest(known[1], presented)
            except TypeError:  # not ASCII, so not the (ASCII) key that passed
                return False
        if board.key_matches(presented):
            if len(self._accepted) > 4 * len(self.registry) + 1000:
                self._accepted.clear()
            self._accepted[board.board_id] = (board, presented)
            return True
        return False

    async def load(self) -> None:
        pool = self.services.pool
        await self.registry.reload(pool)
        await self.messages.reload(pool, self.clock.now())
        await self.health.load(pool)

    async def _changed(self, what: str) -> None:
        if what == "messages":
            await self.messages.reload(self.services.pool, self.clock.now())

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: load, then keep the registry current and the health written."""
        await self.load()
        pool = self.services.pool
        tasks = [
            asyncio.create_task(self.registry.watch(pool, self._changed), name="boards-registry-watch"),
            asyncio.create_task(self.health.run(pool, self.clock), name="boards-health"),
        ]
        if self.services.settings.mqtt.url:
            from display.mqtt import MqttPublisher

            self.publisher = MqttPublisher(self, self.services.settings.mqtt)
            tasks.append(asyncio.create_task(self.publisher.run(), name="boards-mqtt"))
        try:
            yield
        finally:
            for task in reversed(tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def statistics(self) -> dict[str, Any]:
        now = self.clock.now()
        out = {"registry": self.registry.statistics(), "health": self.health.statistics(now),
               "frames": self.frames.statistics(), "messages": self.messages.statistics(now)}
        if self.publisher is not None:
            out["mqtt"] = self.publisher.statistics()
        return out


def get_boards(request_or_app: web.Request | web.Application) -> Boards:
    app = request_or_app.app if isinstance(request_or_app, web.Request) else request_or_app
    return app[BOARDS]  # type: ignore[return-value]
