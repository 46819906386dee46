"""Arrivals bodies built once per snapshot, and rebuilt in the background for the stops riders watch.

A body is made once per (query, snapshot): every rider and board asking about the same stop
gets the same bytes and ETag.  When the tracker publishes, the stops asked about in the last
:data:`HOT_S` seconds are rebuilt one at a time by a background task that yields to the event
loop between stops, resting as long as each rebuild took, so a new snapshot does not stall every
request behind a burst of rebuilds.
Until its turn comes (well under a second), a stop is served from the previous snapshot's body.
Requests for other stops, or a live stream that must reflect the newest snapshot, build inline.
A body also depends on the time (minutes away, what has passed), so none is older than
:data:`LIVE_TTL_S` seconds of the service clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from transit.api.caching import LIVE, Entry, make_entry
from transit.core.snapshot import Snapshot
from transit.schedule.index import ScheduleIndex

#: Longest a body that depends on the time of day is served before a rebuild (service clock).
LIVE_TTL_S = 2.0
#: A stop asked about within this many seconds is kept current by the background task.
HOT_S = 30.0
#: Longest (wall clock) a previous snapshot's body is served while its rebuild is pending.
MAX_BEHIND_S = 1.0
MAX_ENTRIES = 50_000
#: The background refresh rests this many times as long as each rebuild took, up to MAX_PAUSE_S.
PACE = 1.0
MAX_PAUSE_S = 0.005


@dataclass(frozen=True, slots=True)
class ArrivalsQuery:
    stop_id: str
    route_ids: tuple[str, ...] | None
    limit: int
    minutes: int
    per_line: int


Builder = Callable[[Snapshot, ScheduleIndex, ArrivalsQuery, float], dict[str, Any]]


class ArrivalsCache:
    def __init__(self, build_payload: Builder) -> None:
        self._build_payload = build_payload
        self._entries: dict[ArrivalsQuery, tuple[Entry, int]] = {}
        self._hot: dict[ArrivalsQuery, float] = {}
        self._published_at = time.monotonic()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False
        self.builds = 0
        self.background_builds = 0
        self.served_behind = 0

    # ------------------------------------------------------------------ requests
    def get(self, snapshot: Snapshot, index: ScheduleIndex, query: ArrivalsQuery, now: float, *,
            strict: bool = False) -> Entry:
        """The body for ``query``; ``strict``: made from ``snapshot`` itself (live streams)."""
        self._hot[query] = time.monotonic()
        item = self._entries.get(query)
        if item is not None:
            entry, version = item
            if entry.index is index and now - entry.built_now < LIVE_TTL_S:
                if version == snapshot.version:
                    return entry
                if (not strict and self._running and version < snapshot.version
                        and time.monotonic() - self._published_at < MAX_BEHIND_S):
                    self.served_behind += 1
                    return entry  # the background task is on its way to this stop
        return self._build(snapshot, index, query, now)

    def _build(self, snapshot: Snapshot, index: ScheduleIndex, query: ArrivalsQuery, now: float) -> Entry:
        entry = make_entry(self._build_payload(snapshot, index, query, now), LIVE, now, index)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[query] = (entry, snapshot.version)
        self.builds += 1
        return entry

    # ------------------------------------------------------------------ background refresh
    def on_publish(self, snapshot: Snapshot) -> None:
        self._published_at = time.monotonic()
        self._wake.set()
        if self._running:
            self._idle.clear()

    async def wait_refreshed(self) -> None:
        """Until the stops being watched have bodies from the current snapshot."""
        await self._idle.wait()

    async def refresh_forever(self, current: Callable[[], tuple[Snapshot, ScheduleIndex | None, float]]) -> None:
        """Rebuild the hot stops for each new snapshot; runs until cancelled."""
        self._running = True
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._refresh(current)
                if not self._wake.is_set():
                    self._idle.set()
        finally:
            self._running = False
            self._idle.set()

    async def _refresh(self, current: Callable[[], tuple[Snapshot, ScheduleIndex | None, float]]) -> None:
        snapshot, index, now = current()
        if index is None:
            return
        cutoff = time.monotonic() - HOT_S
        for query, last in list(self._hot.items()):
            if last < cutoff:
                del self._hot[query]
                self._entries.pop(query, None)
                continue
            if self._wake.is_set():
                return  # a newer snapshot came: start over with it
            item = self._entries.get(query)
            if item is not None and item[1] == snapshot.version and item[0].index is index:
                continue
            started = time.perf_counter()
            try:
                self._build(snapshot, index, query, now)
            except LookupError:  # the stop left the schedule with a new feed version
                self._entries.pop(query, None)
                self._hot.pop(query, None)
            self.background_builds += 1
            # Paced, not just yielding: a burst of rebuilds right after each publish would hold
            # every request behind it; resting as long as the build took leaves requests at
            # least half the loop.  The stops still waiting are served their previous body.
            await asyncio.sleep(min(MAX_PAUSE_S, (time.perf_counter() - started) * PACE))

    def statistics(self) -> dict[str, Any]:
        return {"entries": len(self._entries), "hot": len(self._hot), "builds": self.builds,
                "background_builds": self.background_builds, "served_behind": self.served_behind}


async def run_refresher(cache: ArrivalsCache, subscribe: Callable[[Callable[[Snapshot], None]], Callable[[], None]],
                        current: Callable[[], tuple[Snapshot, ScheduleIndex | None, float]]) -> AsyncIterator[None]:
    """cleanup_ctx body: subscribe to the snapshot hub and refresh in the background."""
    unsubscribe = subscribe(cache.on_publish)
    task = asyncio.create_task(cache.refresh_forever(current), name="api-arrivals-refresh")
    try:
        yield
    finally:
        unsubscribe()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
