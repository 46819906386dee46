"""The current schedule index, swapped atomically when a new feed version is activated."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from transit.core.heap import settle_heap
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule

log = logging.getLogger(__name__)

FEED_CHANNEL = "transit_feed_activated"


class ScheduleHolder:
    """Readers call :meth:`current` once per unit of work and keep that object: an index is
    immutable, so a swap in the middle of a request cannot tear what the request sees."""

    def __init__(self, index: ScheduleIndex | None = None) -> None:
        self._index = index
        self._listeners: list[Callable[[ScheduleIndex], None]] = []
        self._reloading: asyncio.Lock | None = None

    def current(self) -> ScheduleIndex | None:
        return self._index

    def get(self) -> ScheduleIndex:
        if self._index is None:
            raise LookupError("no GTFS feed is loaded; run `transit import-gtfs PATH`")
        return self._index

    def swap(self, index: ScheduleIndex) -> None:
        self._index = index
        for listener in list(self._listeners):
            listener(index)
        settle_heap()  # the old index is garbage now, the new one lives until the next swap

    def subscribe(self, listener: Callable[[ScheduleIndex], None]) -> None:
        self._listeners.append(listener)

    async def reload(self, pool: asyncpg.Pool, feed_id: int | None = None) -> ScheduleIndex | None:
        """Build the index of the active (or given) version and swap it in."""
        if self._reloading is None:
            self._reloading = asyncio.Lock()
        async with self._reloading:
            if feed_id is None:
                feed_id = await pool.fetchval("SELECT feed_id FROM feed_versions WHERE status = 'active'")
                if feed_id is None:
                    return self._index
            if self._index is not None and self._index.feed_id == feed_id:
                return self._index
            index = await load_schedule(pool, feed_id)
            if index is not None and (self._index is None or index.feed_id != self._index.feed_id):
                self.swap(index)
            return self._index

    async def watch(self, pool: asyncpg.Pool) -> None:
        """LISTEN for activations (by any process, e.g. `transit import-gtfs`) and reload.  Runs
        until cancelled; reconnects when the database goes away."""
        backoff = 1.0
        while True:
            queue: asyncio.Queue[str] = asyncio.Queue()

            def on_notify(*args: Any, queue: asyncio.Queue[str] = queue) -> None:
                queue.put_nowait(args[3])

            try:
                async with pool.acquire() as conn:
                    await conn.add_listener(FEED_CHANNEL, on_notify)
                    backoff = 1.0
                    await self.reload(pool)  # catch up with anything activated while away
                    try:
                        while True:
                            payload = await queue.get()
                            log.info("feed version %s activated; rebuilding the schedule index", payload)
                            await self.reload(pool, int(payload))
                    finally:
                        await conn.remove_listener(FEED_CHANNEL, on_notify)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("schedule watcher lost the database (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def statistics(self) -> dict[str, Any]:
        i = self._index
        return {"feed_id": i.feed_id if i else None, "trips": i.n_trips if i else 0}
