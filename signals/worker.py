"""The background task that keeps the coverage log current while the service runs.

Ingest pokes it after each stored batch; it waits a moment so a burst is one recomputation, works
the dirty queue, and every ``interval_s`` also refreshes today's rows (an intersection that went
silent changes its figures without sending anything).  Failures are logged, counted and retried:
the queue is in PostgreSQL, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg

from signals.metrics import SignalMetrics
from signals.recompute import process_dirty, refresh_recent
from transit.core.clock import Clock
from transit.settings import Settings

log = logging.getLogger(__name__)


class CoverageWorker:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, clock: Clock, metrics: SignalMetrics | None,
                 interval_s: float = 60.0, debounce_s: float = 0.5) -> None:
        self._pool = pool
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._interval_s = interval_s
        self._debounce_s = debounce_s
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_refresh = 0.0
        self.passes = 0
        self.days_recomputed = 0
        self.errors = 0
        self.last_error: str | None = None

    def poke(self) -> None:
        """New data is stored: recompute soon."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Wait until everything poked so far has been recomputed."""
        await self._idle.wait()

    def statistics(self) -> dict[str, Any]:
        return {"passes": self.passes, "days_recomputed": self.days_recomputed, "errors": self.errors,
                "last_error": self.last_error, "idle": self._idle.is_set()}

    async def run_once(self) -> int:
        now = self._clock.now()
        done = await process_dirty(self._pool, self._settings, now)
        if time.monotonic() - self._last_refresh >= self._interval_s:
            done += await refresh_recent(self._pool, self._settings, now)
            self._last_refresh = time.monotonic()
        if self._metrics is not None:
            self._metrics.recomputed.inc(done)
            self._metrics.dirty.set(await self._pool.fetchval("SELECT count(*) FROM signal_dirty_days"))
        self.passes += 1
        self.days_recomputed += done
        return done

    async def run(self) -> None:
        backoff = 1.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)
            await asyncio.sleep(self._debounce_s)
            self._wake.clear()
            try:
                await self.run_once()
                backoff = 1.0
                if not self._wake.is_set():
                    self._idle.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be restarting: retry later
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self._metrics is not None:
                    self._metrics.worker_errors.inc()
                log.warning("coverage log recomputation failed; will retry", extra={"error": self.last_error})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                self._wake.set()
