"""The writer task: batches from ``services.fix_stream`` through the engine, snapshots out.

One task applies batches and publishes a snapshot after each (and at least once a second, so
silent vehicles and ended trips leave it even when no fixes come).  Storage runs beside it: a
flusher writes detected arrivals every second and served trips and accuracy sums every
``SLOW_FLUSH_S``, keeping what it could not write for the next attempt (bounded), so a
database outage slows nothing and loses only what overflows.

At start (and after a schedule swap) the models load their history from the stored arrivals and
the recent positions are replayed through the engine, which is what rebuilds every vehicle's
state after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from typing import Any

import asyncpg

from transit.app.services import Services
from transit.core.heap import settle_heap
from transit.schedule.index import ScheduleIndex
from transit.tracking import store
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.engine import Engine
from transit.tracking.metrics import TrackerMetrics
from transit.tracking.tracker import BatchResult, TrackerParams

log = logging.getLogger(__name__)

FAST_FLUSH_S = 1.0
SLOW_FLUSH_S = 30.0
#: Arrivals kept for writing while the database is away; beyond this the oldest are dropped.
MAX_PENDING_EVENTS = 1_000_000
#: Publish a snapshot at least this often, fixes or not.
IDLE_PUBLISH_S = 1.0
REPLAY_CHUNK_S = 10.0
#: An idle writer stops gathering once max_batch_fixes / ENOUGH_SHARE fixes are waiting.  A batch
#: costs ~10 ms beside its fixes (snapshot, expiry, ...): batches of a thousand fixes at 20,000
#: fixes/s would spend a fifth of the writer on that; gathering for the batch interval, a twentieth.
ENOUGH_SHARE = 4
LATENCY_STRIDE = 16

_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class TrackerService:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings.tracking
        self.params = TrackerParams.from_settings(self.settings)
        self.engine: Engine | None = None
        self.metrics = TrackerMetrics(services.registry, self)
        self._events: deque[ArrivalEvent] = deque()
        self._swap: ScheduleIndex | None = None
        self._swapped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._version = services.snapshots.current().version
        self.counters: dict[str, int] = {"batches": 0, "events_written": 0, "events_dropped": 0,
                                         "storage_errors": 0, "replayed_fixes": 0, "history_rows": 0}
        self.last_error: str | None = None
        self._latency: deque[float] = deque(maxlen=10_000)
        self._flushing = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.services.schedule.subscribe(self._on_swap)
        index = self.services.schedule.current()
        if index is not None:
            await self._install(index)
        settle_heap()  # the writer's state is loaded; keep collections off it
        self._tasks = [asyncio.create_task(self._run(), name="tracker-writer"),
                       asyncio.create_task(self._flush_loop(), name="tracker-flush")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(*_DB_ERRORS):
            await self.flush(slow=True)

    def _on_swap(self, index: ScheduleIndex) -> None:
        self._swap = index
        self._swapped.set()

    async def _install(self, index: ScheduleIndex) -> None:
        """Rebuild the engine for a feed version: history into the models, then the recent
        positions replayed to restore every vehicle's trip and progress."""
        now = self.services.clock.now()
        first = self.engine is None
        if self.engine is None:
            self.engine = Engine.create(index, self.params, self.settings.accuracy_sample_s)
            await self._load_stored_accuracy(index, now)
        else:
            with contextlib.suppress(*_DB_ERRORS):
                await self.flush(slow=True)
            self.engine.set_schedule(index, now)
        today = dt.datetime.fromtimestamp(now, index.tz).date()
        try:
            hold = self.params.predict
            self.counters["history_rows"] = await store.load_history(
                self.services.pool, self.engine.tracker.model, index.timezone, self.settings.history_days, today,
                hold.timepoint_early_s if hold.hold_at_timepoints else None)
            replay_from = now - self.settings.replay_window_s
            fixes = await store.read_recent_positions(self.services.pool, replay_from) if first else []
        except _DB_ERRORS as exc:
            self._note_error("start", exc)
            fixes = []
        self.counters["replayed_fixes"] += len(fixes)
        i = 0
        while i < len(fixes):
            end = fixes[i].ts + REPLAY_CHUNK_S
            j = i
            while j < len(fixes) and fixes[j].ts < end:
                j += 1
            self._take(self.engine.apply(fixes[i:j], min(now, fixes[j - 1].ts)))
            i = j
        self._publish(now)
        log.info("tracker ready", extra={"feed_id": index.feed_id, "history_rows": self.counters["history_rows"],
                                         "replayed_fixes": len(fixes)})

    async def _load_stored_accuracy(self, index: ScheduleIndex, now: float) -> None:
        assert self.engine is not None
        today = dt.datetime.fromtimestamp(now, index.tz).date()
        try:
            rows = await store.read_accuracy(self.services.pool, today - dt.timedelta(days=1), today)
        except _DB_ERRORS as exc:
            self._note_error("start", exc)
            return
        for day, route, bucket, totals in rows:
            self.engine.monitor.add_stored(day, route, bucket, totals)

    # ------------------------------------------------------------------ the writer
    async def _run(self) -> None:
        stream = self.services.fix_stream
        clock = self.services.clock
        last_publish = 0.0
        while True:
            if self._swap is not None:
                index, self._swap = self._swap, None
                self._swapped.clear()
                await self._install(index)
            if self.engine is None:
                await self._swapped.wait()
                continue
            # fixes already waiting have waited through the last batch: take them at once; an idle
            # writer gives the first fix of a trickle batch_interval_s to bring company, but a
            # burst (the ingest commits its fixes in groups) is worth a batch of its own at once
            max_fixes = self.settings.max_batch_fixes
            backlog = len(stream) if hasattr(stream, "__len__") else 0
            try:
                if backlog:
                    fixes = await stream.get_batch(max_fixes, 0.0)
                else:
                    fixes = await asyncio.wait_for(
                        stream.get_batch(max(1, max_fixes // ENOUGH_SHARE), self.settings.batch_interval_s),
                        IDLE_PUBLISH_S)
                    if len(fixes) < max_fixes and hasattr(stream, "__len__") and len(stream):
                        fixes += await stream.get_batch(max_fixes - len(fixes), 0.0)
            except TimeoutError:
                fixes = []
            now = clock.now()
            if not fixes and now - last_publish < IDLE_PUBLISH_S:
                continue
            started = time.perf_counter()
            try:
                result = self.engine.apply(fixes, now)
            except Exception:  # one bad batch must not stop tracking; it is logged with its size
                log.exception("tracker failed to apply a batch", extra={"fixes": len(fixes)})
                self.metrics.batch_errors.inc()
                continue
            self._take(result)
            self._publish(now)
            last_publish = now
            done = clock.now()
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            self.metrics.batch_fixes.observe(len(fixes))
            # every fix's latency is kept for statistics(); the histogram gets a stride sample
            # (observing tens of thousands of values a second would cost more than it tells)
            lags = [done - f.received_ts for f in fixes if f.received_ts > 0]
            self._latency.extend(lags)
            for lag in lags[::LATENCY_STRIDE]:
                self.metrics.fix_to_snapshot.observe(max(0.0, lag))
            if lags:
                self.metrics.fix_to_snapshot.observe(max(0.0, max(lags)))
            self.counters["batches"] += 1

    def _take(self, result: BatchResult) -> None:
        self._events.extend(result.events)
        overflow = len(self._events) - MAX_PENDING_EVENTS
        for _ in range(max(0, overflow)):
            self._events.popleft()
            self.counters["events_dropped"] += 1

    def _publish(self, now: float) -> None:
        assert self.engine is not None
        self._version += 1
        self.services.snapshots.publish(self.engine.snapshot(self._version, now))

    # ------------------------------------------------------------------ storage
    async def _flush_loop(self) -> None:
        last_slow = time.monotonic()
        while True:
            await asyncio.sleep(FAST_FLUSH_S)
            slow = time.monotonic() - last_slow >= SLOW_FLUSH_S
            try:
                await self.flush(slow=slow)
                if slow:
                    last_slow = time.monotonic()
            except _DB_ERRORS as exc:
                self._note_error("flush", exc)

    async def flush(self, slow: bool = True) -> None:
        """Write pending arrivals (and, when ``slow``, served trips and accuracy sums).  Returns
        once everything detected before the call is stored, including a batch the background
        flusher was writing when it was called."""
        async with self._flushing:
            await self._flush(slow)

    async def _flush(self, slow: bool) -> None:
        pool = self.services.pool
        while self._events:
            batch = [self._events.popleft() for _ in range(min(len(self._events), 20_000))]
            try:
                await store.write_arrivals(pool, batch)
            except BaseException:
                self._events.extendleft(reversed(batch))
                raise
            self.counters["events_written"] += len(batch)
        if slow and self.engine is not None:
            tracker = self.engine.tracker
            served = tracker.outputs.take_served()
            try:
                await store.write_served(pool, served, tracker.index.feed_id)
            except BaseException:
                tracker.outputs.requeue_served(served)
                raise
            unsaved = self.engine.monitor.take_unsaved()
            try:
                await store.write_accuracy(pool, unsaved)
            except BaseException:
                for day, route, bucket, totals in unsaved:
                    self.engine.monitor.requeue_unsaved(day, route, bucket, totals)
                raise

    def _note_error(self, where: str, exc: BaseException) -> None:
        self.counters["storage_errors"] += 1
        self.metrics.storage_errors.inc()
        self.last_error = f"{where}: {type(exc).__name__}: {exc}"
        log.warning("tracker storage failed; will retry", extra={"where": where, "error": str(exc)})

    # ------------------------------------------------------------------ introspection
    def statistics(self) -> dict[str, Any]:
        lat = sorted(self._latency)
        p99 = lat[int(0.99 * (len(lat) - 1))] if lat else None
        out: dict[str, Any] = {**self.counters, "pending_events": len(self._events), "last_error": self.last_error,
                               "snapshot_version": self._version, "fix_to_snapshot_p99_s": p99}
        if self.engine is not None:
            out["tracker"] = self.engine.tracker.statistics()
            out["accuracy_monitor"] = self.engine.monitor.statistics()
        return out
