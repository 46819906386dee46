"""Tracking benchmark: a simulated city of ~5,000 buses on 500 lines, each reporting every 10 s.

    TRANSIT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python tests/bench/bench_tracking.py [--lines 500] [--minutes 4] [--speedup 40]

The city is the demo helper's generated grid (``transit.demo.synthetic``: 500 lines, 108,000 trips,
1.7 million stop times), imported into a throwaway database; the buses are the demo simulator's
(``assignment="mixed"``: half report trip ids, a fifth block ids, a fifth their line only, a tenth
nothing), their fixes generated beforehand.  Everything below runs in this one process, on one
core, against PostgreSQL:

1. **Bare ingest** (the baseline): the same fixes through the durable ingest pipeline (validate,
   COPY into ``positions``, commit, acknowledge), 8 senders of 10 s of the city each, nobody
   tracking them.
2. **Ingest + tracking**: the same again, with the real tracking component consuming the stream
   -- map matching, trip assignment, arrival detection, prediction of every downstream call,
   snapshots, accuracy sampling, and the arrivals written to PostgreSQL.  The tracker first warms
   up on two minutes of the city (every bus assigned), then the figure is the sustained rate over
   ``--minutes`` of it: fixes per second from the first submission until the tracker has applied
   the last fix and the arrivals are stored.  The tracker's clock is the city's time as far as
   its fixes have been sent (a city running faster than real time, not stale fixes applied late).
   Target >= 20,000 fixes/s.
3. **Fix-to-snapshot latency** at a given load: the city replayed in time-lapse, ``--speedups``
   times faster than real time (10x: ~5,000 fixes/s; 30x: ~15,000; 40x: ~20,000 fixes/s offered), each
   second of the city's fixes submitted when it is due (buses report at their own phases, so they
   arrive spread over each 10 s); p50/p99 from the moment a fix was received to the snapshot
   that includes it.  Target: p99 < 1 s.  (At the city's real rate, ~500 fixes/s, latency is the
   batch interval plus one small batch.)

Each phase starts from a settled database with none of the earlier phases' positions and arrivals
(``TRUNCATE``, ``VACUUM ANALYZE``, ``CHECKPOINT``): a tracker starting up replays recent positions,
and would otherwise begin with every bus of the phases before it; nor does the background work
their inserts leave behind fall on the next phase.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import math
import os
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from feeds.gps.pipeline import IngestPipeline  # noqa: E402
from feeds.gtfs import import_gtfs  # noqa: E402
from transit.app.services import Services  # noqa: E402
from transit.core.clock import ScaledClock  # noqa: E402
from transit.core.fix import Fix  # noqa: E402
from transit.core.ingest import MemoryFixStream  # noqa: E402
from transit.db.migrate import apply_migrations  # noqa: E402
from transit.db.pool import create_pool  # noqa: E402
from transit.demo.simulator import Simulator  # noqa: E402
from transit.demo.synthetic import write_grid_city  # noqa: E402
from transit.schedule.index import ScheduleIndex  # noqa: E402
from transit.schedule.load import load_schedule  # noqa: E402
from transit.settings import load_settings  # noqa: E402
from transit.tracking.service import TrackerService  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = dt.date(2026, 3, 3)  # a Tuesday
START_H = 7.5
SENDERS = 8
#: Departures every 7 minutes from both ends of each line: about 10 buses per line on the road.
HEADWAY_MIN = 7


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


async def setup_city(pool: asyncpg.Pool, lines: int) -> ScheduleIndex:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "city"
        write_grid_city(folder, lines, headway_min=HEADWAY_MIN)
        started = time.perf_counter()
        await import_gtfs(pool, folder)
        index = await load_schedule(pool)
    assert index is not None
    print(f"city: {lines} lines, {index.n_trips:,} trips, {len(index.st_trip):,} stop times "
          f"(imported and indexed in {time.perf_counter() - started:.1f} s)")
    return index


def simulate(index: ScheduleIndex, minutes: float) -> list[tuple[float, list[Fix]]]:
    """The city's fixes, 10 s of them per step, with the time each step ends."""
    start = index.day_start(DAY) + START_H * 3600
    sim = Simulator(index, seed=1, start_ts=start, assignment="mixed", report_interval_s=10.0)
    steps = []
    t = start
    started = time.perf_counter()
    while t < start + minutes * 60:
        t += 10.0
        steps.append((t, sim.advance(t)))
    n = sum(len(f) for _, f in steps)
    buses = len({f.vehicle_id for _, fs in steps for f in fs})
    print(f"simulated {minutes:.0f} min: {n:,} fixes of {buses:,} buses ({n / minutes / 60:,.0f} fixes/s in real "
          f"time; generated in {time.perf_counter() - started:.1f} s)")
    return steps


def relabel(steps: list[tuple[float, list[Fix]]], prefix: str) -> list[tuple[float, list[Fix]]]:
    return [(t, [replace(f, vehicle_id=prefix + f.vehicle_id) for f in fs]) for t, fs in steps]


def make_services(pool: asyncpg.Pool, index: ScheduleIndex, clock: Any) -> Services:
    settings = load_settings(environ={}, overrides={"database.url": "postgresql://unused/x",
                                                    "tracking.accuracy_sample_s": 60.0,
                                                    "tracking.replay_window_s": 0.0})
    services = Services(settings=settings, pool=pool, clock=clock)
    services.schedule.swap(index)
    services.fix_stream = MemoryFixStream(max_fixes=2_000_000)
    return services


class _CityClock:
    """The city's time as far as its fixes have been sent: the sustained phase offers the city
    faster than real time, so "now" for the tracker is the newest fix sent, not the wall clock
    (which would make every fix look minutes old, every bus overdue and stale)."""

    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def submit_all(pipeline: IngestPipeline, steps: list[tuple[float, list[Fix]]],
                     clock: _CityClock | None = None) -> None:
    queue: asyncio.Queue[tuple[float, list[Fix]]] = asyncio.Queue()
    for step in steps:
        queue.put_nowait(step)

    async def sender() -> None:
        while not queue.empty():
            t, fixes = queue.get_nowait()
            if clock is not None:
                clock.t = max(clock.t, t)
            await pipeline.submit(fixes, "bench")

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


async def settle(pool: asyncpg.Pool) -> None:
    """Start a phase from a settled database holding none of the earlier phases' buses.

    A tracker starting up replays the recent positions and learns from the stored arrivals, so
    without emptying them a phase would begin with every bus of the phases before it (thousands
    of extra vehicles, silent until they expire, in its snapshots).  And the rows those phases
    inserted leave autovacuum and checkpoint work behind, which would otherwise land on whichever
    phase comes next (on a two-core machine PostgreSQL's background work then competes with the
    measured process for the CPU, and the figure depends on the order of the phases)."""
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE positions, stop_arrivals, prediction_accuracy, served_trips")
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")


async def bare_ingest(pool: asyncpg.Pool, index: ScheduleIndex, steps: list[tuple[float, list[Fix]]]) -> float:
    clock = ScaledClock(steps[-1][0] + 60.0, 1.0)
    services = make_services(pool, index, clock)
    pipeline = IngestPipeline.from_services(services, timezone=index.timezone)
    await pipeline.start()

    async def drain() -> None:
        while True:
            await services.fix_stream.get_batch(100_000, 0.05)

    drainer = asyncio.create_task(drain())
    n = sum(len(f) for _, f in steps)
    started = time.perf_counter()
    await submit_all(pipeline, steps)
    elapsed = time.perf_counter() - started
    drainer.cancel()
    await pipeline.close()
    return n / elapsed


async def _wait_idle(services: Services, tracker: TrackerService, timeout_s: float = 120.0) -> None:
    """Until the stream is empty and the tracker has applied what it took."""
    deadline = time.perf_counter() + timeout_s
    last = -1
    while time.perf_counter() < deadline:
        engine = tracker.engine
        applied = engine.tracker.counters["fixes"] if engine is not None else 0
        if len(services.fix_stream) == 0 and applied == last:
            return
        last = applied
        await asyncio.sleep(0.3)


async def tracked_ingest(
    pool: asyncpg.Pool, index: ScheduleIndex, warm: list[tuple[float, list[Fix]]],
    steps: list[tuple[float, list[Fix]]],
) -> tuple[float, dict[str, Any]]:
    clock = _CityClock(warm[0][0] - 10.0)
    services = make_services(pool, index, clock)
    pipeline = IngestPipeline.from_services(services, timezone=index.timezone)
    await pipeline.start()
    services.fix_sink = pipeline
    tracker = TrackerService(services)
    await tracker.start()
    assert tracker.engine is not None
    # warm up: every bus assigned (the inference of buses reporting nothing is the slow part)
    await submit_all(pipeline, warm, clock)
    await _wait_idle(services, tracker)
    await tracker.flush()
    gc.collect()
    n = sum(len(f) for _, f in steps)
    before_fixes = tracker.engine.tracker.counters["fixes"]
    before_events = tracker.counters["events_written"] + len(tracker._events)
    started = time.perf_counter()
    await submit_all(pipeline, steps, clock)
    deadline = time.perf_counter() + 300.0
    while tracker.engine.tracker.counters["fixes"] < before_fixes + n and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    await tracker.flush(slow=False)
    elapsed = time.perf_counter() - started
    stats = tracker.statistics()
    stats["arrivals_during"] = tracker.counters["events_written"] - before_events
    await tracker.close()
    await pipeline.close()
    return n / elapsed, stats


class _SettableClock:
    """A clock whose time source can be replaced (the time-lapse starts after the warm-up)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def now(self) -> float:
        return float(self.inner.now())

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def by_second(steps: list[tuple[float, list[Fix]]]) -> list[tuple[float, list[Fix]]]:
    """The fixes of each step grouped by the city second they were sent in, with its end."""
    out: list[tuple[float, list[Fix]]] = []
    for t, fixes in steps:
        groups: dict[float, list[Fix]] = {}
        for f in fixes:
            groups.setdefault(min(t, math.floor(f.ts) + 1.0), []).append(f)
        out.extend(sorted(groups.items()))
    return out


async def paced_latency(
    pool: asyncpg.Pool, index: ScheduleIndex, warm: list[tuple[float, list[Fix]]],
    steps: list[tuple[float, list[Fix]]], speedup: float,
) -> tuple[float, float, float]:
    """p50 and p99 fix-to-snapshot latency (wall seconds) with the city in time-lapse, after the
    tracker has warmed up on the first minutes (applied as fast as it can)."""
    clock = _SettableClock(ScaledClock(warm[-1][0] + 1.0, 1.0))
    services = make_services(pool, index, clock)
    pipeline = IngestPipeline.from_services(services, timezone=index.timezone)
    await pipeline.start()
    tracker = TrackerService(services)
    await tracker.start()
    await submit_all(pipeline, warm)
    await _wait_idle(services, tracker)
    # buses report at their own phases, so the city's fixes arrive spread over each 10 s, not in
    # one burst: each second of them is submitted when that second ends, stamped received then
    # (beforehand: the load generator's own work stays out of the measured process, and a fix
    # submitted a little late counts the delay too)
    stamped = [(due, [replace(f, received_ts=due) for f in group]) for due, group in by_second(steps)]
    clock.inner = ScaledClock(steps[0][0] - 10.0, speedup)
    tracker._latency = deque()  # every fix of the run (the service keeps only the last 10,000)
    tasks = []
    for t, fixes in stamped:
        while clock.now() < t:  # noqa: ASYNC110 (pacing to a simulated clock)
            await asyncio.sleep(max(0.0, (t - clock.now()) / speedup))
        tasks.append(asyncio.create_task(pipeline.submit(fixes, "bench")))
    await asyncio.gather(*tasks)
    await _wait_idle(services, tracker)
    latencies = sorted(x / speedup for x in tracker._latency)  # time-lapse seconds -> wall seconds
    await tracker.close()
    await pipeline.close()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    offered = sum(len(f) for _, f in steps) / ((steps[-1][0] - steps[0][0] + 10.0) / speedup)
    return offered, p50, p99


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=4.0, help="city minutes measured")
    parser.add_argument("--speedups", default="10,30,40",
                        help="time-lapse factors for the latency runs (30: 15,000 and 40: 20,000 fixes/s offered)")
    args = parser.parse_args()
    server = os.environ.get("TRANSIT_TEST_DATABASE_URL") or os.environ.get("TRANSIT_DATABASE_URL") or DEFAULT_SERVER
    name = f"transit_bench_trk_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        dsn = _with_database(server, name)
        conn = await asyncpg.connect(dsn)
        await apply_migrations(conn)
        await conn.close()
        pool = await create_pool(dsn, 2, 12)
        try:
            index = await setup_city(pool, args.lines)
            steps = simulate(index, 2.0 + args.minutes)
            warm, measured = steps[:12], steps[12:]
            gc.freeze()  # the schedule and the pre-generated fixes are long-lived: keep them out of GC passes
            await settle(pool)
            base_rate = await bare_ingest(pool, index, relabel(measured, "base-"))
            print(f"\n1. bare ingest (baseline): {base_rate:,.0f} fixes/s")
            await settle(pool)
            rate, stats = await tracked_ingest(pool, index, relabel(warm, "t-"), relabel(measured, "t-"))
            trk = stats["tracker"]
            print(f"2. ingest + tracking:      {rate:,.0f} fixes/s sustained  (ratio to bare ingest "
                  f"{rate / base_rate:.2f}; target >= 20,000 fixes/s: {'met' if rate >= 20_000 else 'MISSED'})")
            print(f"   {trk['assigned']:,} of {trk['vehicles']:,} buses on a trip; {stats['arrivals_during']:,} arrivals "
                  f"detected and stored while measuring; {stats['batches']} batches")
            for k, speedup in enumerate(float(x) for x in args.speedups.split(",")):
                await settle(pool)
                offered, p50, p99 = await paced_latency(pool, index, relabel(warm, f"p{k}-"),
                                                        relabel(measured, f"p{k}-"), speedup)
                print(f"3. fix-to-snapshot latency at {offered:,.0f} fixes/s offered ({speedup:.0f}x time-lapse): "
                      f"p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms (target p99 < 1 s: "
                      f"{'met' if p99 < 1.0 else 'MISSED'})")
        finally:
            await pool.close()
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
