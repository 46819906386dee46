"""The durable ingest path every GPS source hands its fixes to (the ``FixSink``).

``submit`` validates, queues and waits; one writer loop forms batches from everything queued and
writes each in one COPY and one commit on one of a few connections ("lanes"), so a thousand
concurrent callers share a handful of commits (group commit).  A caller returns only after its
batch committed: that is what lets a JT/T 808 server or an HTTP handler acknowledge.

While PostgreSQL is unreachable, batches are retried with exponential back-off and new fixes keep
queueing; the queue (``buffer_max_fixes``, counting everything not yet committed) is the bound:
past it ``submit`` raises :class:`IngestUnavailable` (HTTP 503), nothing is dropped silently.

Ordering: batches are formed in arrival order, and each decides at formation which of its fixes
go to live tracking (``live`` and newer than the newest fix of that vehicle already forwarded).
Batches commit in parallel but forward in formation order, so the tracker never sees a vehicle
step back in time.  A batch is written on the direct COPY path when every fix in it is newer than
anything this process wrote for its vehicle, else on the staged path that drops duplicates (see
``store.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from feeds.gps.batching import Batch, Record, Submission, VehicleOrder
from feeds.gps.metrics import get_ingest_metrics
from feeds.gps.partitions import DayPartitions
from feeds.gps.store import write_direct, write_staged
from feeds.gps.validate import FixLimits, format_instant, validate_fixes
from transit.core.clock import Clock
from transit.core.fix import Fix
from transit.core.ingest import FixStream, IngestUnavailable, SubmitResult
from transit.core.rejection import Rejection, RejectionKind

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from transit.app.services import Services

log = logging.getLogger(__name__)


#: Errors after which the same batch is retried (the server or the network is away); any other
#: error means PostgreSQL refused the data itself.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.PostgresSystemError,
)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.exceptions.DataError):
        return False
    return isinstance(exc, TRANSIENT_ERRORS) or isinstance(exc, asyncpg.InterfaceError)


class IngestPipeline:
    """Implements :class:`transit.core.ingest.FixSink`; see the module docstring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock,
        registry: CollectorRegistry,
        fix_stream: FixStream,
        timezone: str = "Asia/Shanghai",
        limits: FixLimits | None = None,
        buffer_max_fixes: int = 200_000,
        commit_interval_s: float = 0.05,
        lanes: int = 2,
        max_batch_fixes: int = 20_000,
        max_backoff_s: float = 5.0,
        write_timeout_s: float = 60.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._fix_stream = fix_stream
        self._limits = limits or FixLimits()
        self._buffer_max = buffer_max_fixes
        self._linger_s = commit_interval_s
        self._max_batch = max_batch_fixes
        self._early_fixes = max(1, max_batch_fixes // 10)
        self._max_backoff_s = max_backoff_s
        self._write_timeout_s = write_timeout_s
        self._metrics = get_ingest_metrics(registry)
        self._metrics.buffer_fixes.set_function(lambda: self._buffered)

        self._pending: collections.deque[Submission] = collections.deque()
        self._pending_fixes = 0
        self._buffered = 0  # accepted, not yet committed (pending + in flight)
        self._wake = asyncio.Event()
        self._lanes = asyncio.Semaphore(lanes)
        self._idle_conns: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._abandon = asyncio.Event()
        self._seq = 0
        self._last_done: asyncio.Event | None = None

        self._order = VehicleOrder()
        self._partitions = DayPartitions(timezone)
        self._staged_until = 0.0

        self._stats: collections.Counter[str] = collections.Counter()
        self._storage_up = True
        self._last_error: str | None = None
        self._last_error_ts: float | None = None
        self._last_commit_s = 0.0

    @classmethod
    def from_services(cls, services: Services, **overrides: Any) -> IngestPipeline:
        s = services.settings
        kwargs: dict[str, Any] = {
            "clock": services.clock,
            "registry": services.registry,
            "fix_stream": services.fix_stream,
            "timezone": s.timezone,
            "limits": FixLimits(max_future_s=s.ingest.max_future_s, max_past_s=s.ingest.max_past_s),
            "buffer_max_fixes": s.ingest.buffer_max_fixes,
            "commit_interval_s": s.ingest.commit_interval_s,
        }
        kwargs.update(overrides)
        return cls(services.pool, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._writer is None:
            self._metrics.storage_up.set(1)
            self._writer = asyncio.create_task(self._run(), name="ingest-writer")

    async def close(self, timeout_s: float = 10.0) -> None:
        """Refuse new fixes, commit everything queued, then let go of the connections.

        If PostgreSQL stays away for ``timeout_s``, the callers still waiting get
        IngestUnavailable (their fixes were never acknowledged).
        """
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            done, _ = await asyncio.wait({self._writer}, timeout=timeout_s)
            if not done:
                log.warning("ingest: PostgreSQL did not take the last %d fixes before shutdown; "
                            "their senders are told", self._buffered)
                self._abandon.set()
                self._wake.set()
                await asyncio.wait({self._writer}, timeout=5.0)
            if not self._writer.done():
                self._writer.cancel()
        while self._pending:
            self._fail(self._pending.popleft(), IngestUnavailable("ingest is shutting down"))
        for conn in self._idle_conns:
            try:
                await self._pool.release(conn)
            except Exception:  # a broken connection, or the pool already closing
                log.debug("ingest: releasing a connection at shutdown failed", exc_info=True)
        self._idle_conns.clear()

    # ------------------------------------------------------------------ FixSink
    async def submit(self, fixes: Sequence[Fix], source: str) -> SubmitResult:
        metrics = self._metrics
        if self._closing:
            raise IngestUnavailable("ingest is shutting down", retry_after_s=5.0)
        now = self._clock.now()
        metrics.received.labels(source).inc(len(fixes))
        good, positions, rejections = validate_fixes(fixes, now, self._limits)
        if rejections:
            metrics.count_rejections(source, rejections)
        if not good:
            return SubmitResult(0, tuple(rejections))
        if self._buffered + len(good) > self._buffer_max:
            metrics.rejections.labels(source, str(RejectionKind.BUFFER_FULL)).inc(len(good))
            self._stats["refused"] += len(good)
            state = "PostgreSQL is unreachable" if not self._storage_up else "PostgreSQL is not keeping up"
            raise IngestUnavailable(
                f"ingest buffer full: {self._buffered} fixes wait for their commit "
                f"(limit {self._buffer_max}, {state}); retry later",
                retry_after_s=min(30.0, max(1.0, self._max_backoff_s)),
            )
        loop = asyncio.get_running_loop()
        entry = Submission(good, source, now, loop.time(), loop.create_future())
        self._pending.append(entry)
        self._pending_fixes += len(good)
        self._buffered += len(good)
        self._wake.set()
        duplicates = await entry.future
        metrics.ack_seconds.observe(loop.time() - entry.enqueued)
        if duplicates:
            for i, why in duplicates:
                fix = good[i]
                rejections.append(Rejection(positions[i], RejectionKind.DUPLICATE,
                                            f"vehicle {fix.vehicle_id} at {format_instant(fix.ts)} {why}"))
            rejections.sort(key=lambda r: r.index)
        return SubmitResult(len(good) - len(duplicates), tuple(rejections))

    # ------------------------------------------------------------------ statistics
    @property
    def buffered(self) -> int:
        return self._buffered

    def statistics(self) -> dict[str, Any]:
        return {
            "buffered_fixes": self._buffered,
            "buffer_max_fixes": self._buffer_max,
            "pending_submissions": len(self._pending),
            "batches_in_flight": self._in_flight,
            "stored": self._stats["stored"],
            "duplicates": self._stats["duplicates"],
            "out_of_order": self._stats["out_of_order"],
            "forwarded": self._stats["forwarded"],
            "refused": self._stats["refused"],
            "batches_direct": self._stats["batches_direct"],
            "batches_staged": self._stats["batches_staged"],
            "storage_errors": self._stats["storage_errors"],
            "storage_up": self._storage_up,
            "last_error": self._last_error,
            "last_error_ts": self._last_error_ts,
            "last_commit_s": self._last_commit_s,
            "vehicles": len(self._order),
            "closing": self._closing,
        }

    # ------------------------------------------------------------------ writer
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    break
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._lanes.acquire()
            if not self._closing:
                # An idle store takes what is queued at once; while a batch is in flight, gather
                # until it finishes, enough fixes queue up, or the oldest waited commit_interval_s.
                deadline = self._pending[0].enqueued + self._linger_s
                while self._in_flight and self._pending_fixes < self._early_fixes and not self._closing:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._wake.clear()
                    try:
                        async with asyncio.timeout(remaining):
                            await self._wake.wait()
                    except TimeoutError:
                        break
            if not self._pending:
                self._lanes.release()
                continue
            batch = self._form_batch()
            self._in_flight += 1
            previous, self._last_done = self._last_done, batch.done
            task = asyncio.create_task(self._write(batch, previous), name=f"ingest-batch-{batch.seq}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _form_batch(self) -> Batch:
        submissions: list[Submission] = []
        n = 0
        while self._pending and (not submissions or n + len(self._pending[0].fixes) <= self._max_batch):
            sub = self._pending.popleft()
            submissions.append(sub)
            n += len(sub.fixes)
        self._pending_fixes -= n
        self._seq += 1
        return self._order.form(submissions, self._seq)

    async def _write(self, batch: Batch, previous: asyncio.Event | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            outcome = await self._store_batch(batch)
            if outcome is None:
                return
            path, duplicates = outcome
            self._note_success(batch, path, duplicates)
            if previous is not None and not previous.is_set():
                await previous.wait()
            if batch.forward:
                self._fix_stream.put_nowait(batch.forward)
                self._stats["forwarded"] += len(batch.forward)
        except Exception as exc:  # a bug here must not leave callers waiting forever
            log.exception("ingest: batch %d failed unexpectedly", batch.seq)
            for entry in batch.submissions:
                self._fail(entry, IngestUnavailable(f"ingest failed to store the batch: {exc}"))
        finally:
            self._buffered -= batch.size
            self._in_flight -= 1
            batch.done.set()
            self._lanes.release()
            self._wake.set()
            self._last_commit_s = loop.time() - batch.submissions[0].enqueued

    async def _store_batch(self, batch: Batch) -> tuple[str, list[tuple[str, dt.datetime]]] | None:
        """Write until committed; None when the batch was given up (its callers were told)."""
        loop = asyncio.get_running_loop()
        path = "direct" if batch.certain_new and loop.time() >= self._staged_until else "staged"
        uncertain = False
        backoff = 0.05
        while True:
            conn = None
            sending = False
            try:
                conn = await self._acquire()
                started = loop.time()
                async with asyncio.timeout(self._write_timeout_s):
                    await self._partitions.ensure(conn, batch.min_ts, batch.max_ts,
                                                  (r[1] for r in batch.records))
                    duplicates: list[tuple[str, dt.datetime]] = []
                    sending = True
                    if path == "direct":
                        try:
                            await write_direct(conn, batch.records)
                        except asyncpg.UniqueViolationError:
                            # Written before this process knew the vehicle (another process, or
                            # a resend across a restart): take the staged path for a while.
                            path = "staged"
                            self._staged_until = loop.time() + 30.0
                    if path == "staged":
                        _, duplicates = await write_staged(conn, batch.records, find_duplicates=not uncertain)
                self._idle_conns.append(conn)
                elapsed = loop.time() - started
                self._metrics.commit_seconds.observe(elapsed)
                if not self._storage_up:
                    log.info("ingest: PostgreSQL is back; flushing %d buffered fixes", self._buffered)
                self._storage_up = True
                self._metrics.storage_up.set(1)
                return path, duplicates
            except Exception as exc:
                await self._discard(conn)
                if not _is_transient(exc):
                    self._note_error("refused", exc)
                    await self._write_entries_apart(batch, exc)
                    return None
                if sending:
                    # The commit may have happened before the connection broke: from now on a
                    # conflict on retry may be our own row, so it counts as stored.
                    uncertain = True
                    path = "staged"
                self._note_error("transient", exc)
                if self._abandon.is_set():
                    for entry in batch.submissions:
                        self._fail(entry, IngestUnavailable(
                            f"shut down while PostgreSQL was unreachable ({exc})"))
                    return None
                try:
                    async with asyncio.timeout(backoff):
                        await self._abandon.wait()
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, self._max_backoff_s)

    async def _write_entries_apart(self, batch: Batch, exc: BaseException) -> None:
        """PostgreSQL refused the batch's data: write each submission on its own so that only the
        one carrying the bad data fails (a bug in validation, not a normal path)."""
        by_entry: dict[int, list[Record]] = collections.defaultdict(list)
        for record, (ei, _) in zip(batch.records, batch.owners(), strict=True):
            by_entry[ei].append(record)
        for ei, entry in enumerate(batch.submissions):
            records = by_entry.get(ei)
            if not records:
                continue
            conn = None
            try:
                conn = await self._acquire()
                await write_staged(conn, records, find_duplicates=False)
                self._idle_conns.append(conn)
                self._stats["stored"] += len(records)
                self._metrics.stored.labels(entry.source).inc(len(records))
                if not entry.future.done():
                    entry.future.set_result(entry.duplicates)
            except Exception as inner:
                await self._discard(conn)
                log.error("ingest: PostgreSQL refused %d fixes from %s: %s", len(records), entry.source, inner)
                self._fail(entry, IngestUnavailable(f"PostgreSQL refused these fixes: {inner}"))

    def _note_success(self, batch: Batch, path: str, duplicates: list[tuple[str, dt.datetime]]) -> None:
        metrics = self._metrics
        if duplicates:
            where = {}
            for record, owner in zip(batch.records, batch.owners(), strict=True):
                where[(record[0], record[1])] = owner
            for key in duplicates:
                found = where.get(key)
                if found is not None:
                    batch.submissions[found[0]].duplicates.append((found[1], "is already stored"))
        stored_by_source: collections.Counter[str] = collections.Counter()
        dups_by_source: collections.Counter[str] = collections.Counter()
        for entry in batch.submissions:
            stored_by_source[entry.source] += len(entry.fixes) - len(entry.duplicates)
            if entry.duplicates:
                dups_by_source[entry.source] += len(entry.duplicates)
            if not entry.future.done():
                entry.future.set_result(entry.duplicates)
        for source, n in stored_by_source.items():
            metrics.stored.labels(source).inc(n)
            self._stats["stored"] += n
        for source, n in dups_by_source.items():
            metrics.rejections.labels(source, str(RejectionKind.DUPLICATE)).inc(n)
            self._stats["duplicates"] += n
        for source, n in batch.out_of_order.items():
            metrics.out_of_order.labels(source).inc(n)
            self._stats["out_of_order"] += n
        metrics.batches.labels(path).inc()
        metrics.batch_fixes.observe(len(batch.records))
        self._stats[f"batches_{path}"] += 1

    def _note_error(self, kind: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}".strip()
        if self._storage_up or kind == "refused":
            log.warning("ingest: writing to PostgreSQL failed (%s): %s; %d fixes buffered",
                        kind, text, self._buffered)
        self._stats["storage_errors"] += 1
        self._metrics.storage_errors.labels(kind).inc()
        self._last_error = text
        self._last_error_ts = self._clock.now()
        if kind == "transient":
            self._storage_up = False
            self._metrics.storage_up.set(0)

    def _fail(self, entry: Submission, exc: Exception) -> None:
        if not entry.future.done():
            entry.future.set_exception(exc)
            entry.future.exception()  # mark retrieved: the caller may have gone away

    # ------------------------------------------------------------------ connections, partitions
    async def _acquire(self) -> Any:
        if self._idle_conns:
            return self._idle_conns.pop()
        async with asyncio.timeout(10.0):
            return await self._pool.acquire()

    async def _discard(self, conn: Any) -> None:
        """Close a connection after a failure; never raises (the pool may already have let go of
        a connection whose socket broke)."""
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.terminate()
        try:
            await self._pool.release(conn)
        except Exception:  # the pool replaces a dead connection on the next acquire
            log.debug("ingest: releasing a broken connection failed", exc_info=True)
