"""The durable pipeline on real PostgreSQL: acknowledged means committed, duplicates dropped (also
across restarts), out-of-order fixes stored but kept from live tracking, one partition per local
day, group commit for many concurrent callers, and a drain on close."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import generate_latest

from feeds.gps.pipeline import IngestPipeline
from feeds.gps.validate import FixLimits
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.core.fix import Fix
from transit.core.ingest import IngestUnavailable
from transit.core.rejection import RejectionKind
from transit.settings import Settings

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# 2025-05-01 23:59:30 in Zhangqiu: batches around here span two service days.
NOW = dt.datetime(2025, 5, 1, 23, 59, 30, tzinfo=SHANGHAI).timestamp()


def fx(vehicle: str, ts: float, **kw: object) -> Fix:
    return Fix(vehicle, ts, 36.7 + (ts - NOW) * 1e-5, 117.5, **kw)  # type: ignore[arg-type]


@pytest.fixture
def services(settings: Settings, pool: asyncpg.Pool) -> Services:
    return Services(settings=settings, pool=pool, clock=ManualClock(NOW))


@pytest.fixture
async def pipeline(services: Services) -> AsyncIterator[IngestPipeline]:
    p = IngestPipeline.from_services(services)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


async def stored_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT vehicle_id, extract(epoch FROM ts)::float8 AS ts, live, source, "
                            "tableoid::regclass::text AS part FROM positions ORDER BY vehicle_id, ts")


async def test_submit_returns_after_commit_with_every_field(pipeline: IngestPipeline, pool: asyncpg.Pool,
                                                            services: Services) -> None:
    f = Fix("鲁A·12345", NOW - 10.25, 36.71, 117.54, speed_mps=8.5, bearing_deg=271.0, trip_id="t1",
            route_id="K1", block_id="b7", start_date="20250501", start_time="23:40:00", label="鲁A·12345",
            odometer_m=123456.0, received_ts=NOW)
    result = await pipeline.submit([f], source="json")
    assert result.stored == 1 and result.rejections == ()
    # No waiting: the row is visible to another connection the moment submit returned.
    row = await pool.fetchrow("SELECT * FROM positions")
    assert row["vehicle_id"] == "鲁A·12345"
    assert row["ts"].timestamp() == pytest.approx(NOW - 10.25)
    assert (row["lat"], row["lon"], row["speed_mps"], row["bearing_deg"]) == (36.71, 117.54, 8.5, 271.0)
    assert (row["trip_id"], row["route_id"], row["block_id"], row["label"]) == ("t1", "K1", "b7", "鲁A·12345")
    assert (row["start_date"], row["start_time"], row["odometer_m"]) == ("20250501", "23:40:00", 123456.0)
    assert row["source"] == "json" and row["live"] is True
    assert list(services.fix_stream._queue) == [f]


async def test_validation_rejections_come_back_indexed_and_good_fixes_stay(
        pipeline: IngestPipeline, pool: asyncpg.Pool, services: Services) -> None:
    batch = [fx("a", NOW - 1), Fix("b", NOW, 0.0, 0.0), fx("c", NOW + 3600), fx("d", NOW - 2)]
    result = await pipeline.submit(batch, source="json")
    assert result.stored == 2
    assert [(r.index, r.kind) for r in result.rejections] == [
        (1, RejectionKind.NULL_ISLAND), (2, RejectionKind.FUTURE_TIMESTAMP)]
    assert [r["vehicle_id"] for r in await stored_rows(pool)] == ["a", "d"]
    metrics = generate_latest(services.registry).decode()
    assert 'transit_rejections_total{kind="null_island",source="json"} 1.0' in metrics
    assert 'transit_rejections_total{kind="future_timestamp",source="json"} 1.0' in metrics
    assert 'transit_ingest_fixes_stored_total{source="json"} 2.0' in metrics


async def test_duplicates_are_dropped_within_a_batch_across_batches_and_across_restarts(
        services: Services, pool: asyncpg.Pool) -> None:
    first = IngestPipeline.from_services(services)
    await first.start()
    r1 = await first.submit([fx("a", NOW - 30), fx("a", NOW - 30), fx("b", NOW - 30)], source="json")
    assert r1.stored == 2
    assert [(r.index, r.kind) for r in r1.rejections] == [(1, RejectionKind.DUPLICATE)]
    assert "appears more than once" in r1.rejections[0].detail
    r2 = await first.submit([fx("a", NOW - 30), fx("a", NOW - 20)], source="json")
    assert r2.stored == 1 and [(r.index, r.kind) for r in r2.rejections] == [(0, RejectionKind.DUPLICATE)]
    await first.close()

    # A new process (pipeline) knows nothing in memory: the database still refuses the copies.
    second = IngestPipeline.from_services(services)
    await second.start()
    r3 = await second.submit([fx("b", NOW - 30), fx("a", NOW - 20), fx("a", NOW - 10)], source="jt808")
    await second.close()
    assert r3.stored == 1
    assert [(r.index, r.kind) for r in r3.rejections] == [(0, RejectionKind.DUPLICATE), (1, RejectionKind.DUPLICATE)]
    assert "is already stored" in r3.rejections[0].detail and "vehicle b" in r3.rejections[0].detail
    assert len(await stored_rows(pool)) == 4
    assert second.statistics()["duplicates"] == 2


async def test_out_of_order_fixes_are_stored_but_not_tracked(pipeline: IngestPipeline, pool: asyncpg.Pool,
                                                             services: Services) -> None:
    await pipeline.submit([fx("a", NOW - 10)], source="json")
    late = await pipeline.submit([fx("a", NOW - 40), fx("a", NOW - 5)], source="json")
    backlog = await pipeline.submit([fx("a", NOW - 1, live=False)], source="jt808")
    assert late.stored == 2 and backlog.stored == 1
    rows = await stored_rows(pool)
    assert [(r["ts"] - NOW, r["live"]) for r in rows] == [(-40, False), (-10, True), (-5, True), (-1, False)]
    tracked = [f.ts - NOW for f in services.fix_stream._queue]
    assert tracked == [-10, -5]
    assert pipeline.statistics()["out_of_order"] == 2


async def test_fixes_of_one_batch_reach_tracking_in_time_order(pipeline: IngestPipeline,
                                                              services: Services) -> None:
    await pipeline.submit([fx("a", NOW - 3), fx("a", NOW - 9), fx("b", NOW - 6)], source="json")
    assert [(f.vehicle_id, f.ts - NOW) for f in services.fix_stream._queue] == [
        ("a", -9), ("b", -6), ("a", -3)]


async def test_one_partition_per_local_day_created_on_demand(pipeline: IngestPipeline, pool: asyncpg.Pool,
                                                             services: Services) -> None:
    assert isinstance(services.clock, ManualClock)
    services.clock.advance(60)
    result = await pipeline.submit([fx("a", NOW - 5), fx("a", NOW + 45), fx("b", NOW - 86400 * 3)], source="json")
    assert result.stored == 3
    parts = {r["ts"] - NOW: r["part"] for r in await stored_rows(pool)}
    assert parts == {-5: "positions_20250501", 45: "positions_20250502", -86400 * 3: "positions_20250428"}
    bounds = await pool.fetchval(
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'positions_20250502'")
    assert "2025-05-01 16:00:00+00" in bounds and "2025-05-02 16:00:00+00" in bounds


async def test_a_batch_spread_over_weeks_creates_only_the_days_it_holds(services: Services, pool: asyncpg.Pool) -> None:
    p = IngestPipeline.from_services(services, limits=FixLimits(max_past_s=60 * 86400.0))
    await p.start()
    try:
        result = await p.submit([fx("a", NOW - 5), fx("a", NOW - 40 * 86400)], source="replay")
    finally:
        await p.close()
    assert result.stored == 2
    parts = await pool.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'positions_2%' AND relkind = 'r' "
                             "ORDER BY 1")
    assert [r["relname"] for r in parts] == ["positions_20250322", "positions_20250501"]


async def test_a_thousand_concurrent_callers_share_a_few_commits(pipeline: IngestPipeline, pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(*(pipeline.submit([fx(f"bus{i}", NOW - 1)], source="jt808")
                                     for i in range(1000)))
    assert all(r.stored == 1 for r in results)
    stats = pipeline.statistics()
    assert stats["stored"] == 1000
    assert stats["batches_direct"] + stats["batches_staged"] <= 5
    assert await pool.fetchval("SELECT count(*) FROM positions") == 1000


async def test_known_vehicles_take_the_direct_copy_path(pipeline: IngestPipeline, pool: asyncpg.Pool) -> None:
    await pipeline.submit([fx(f"bus{i}", NOW - 60) for i in range(50)], source="json")
    assert pipeline.statistics()["batches_staged"] == 1  # vehicles never seen: duplicates possible
    for k in range(1, 4):
        await pipeline.submit([fx(f"bus{i}", NOW - 60 + k) for i in range(50)], source="json")
    assert pipeline.statistics()["batches_direct"] == 3
    # A copy of an old fix makes the batch uncertain again: staged, duplicate named.
    result = await pipeline.submit([fx("bus1", NOW - 60), fx("bus1", NOW)], source="json")
    assert result.stored == 1 and result.rejections[0].kind is RejectionKind.DUPLICATE
    assert await pool.fetchval("SELECT count(*) FROM positions") == 201


async def test_a_conflict_on_the_direct_path_falls_back_to_staged(pipeline: IngestPipeline, pool: asyncpg.Pool) -> None:
    await pipeline.submit([fx("a", NOW - 50)], source="json")
    # Another process writes a fix this one has not seen.
    await pool.execute("INSERT INTO positions (vehicle_id, ts, lat, lon, source, live, received_at) "
                       "VALUES ('a', to_timestamp($1), 36.7, 117.5, 'other', true, now())", NOW - 40)
    result = await pipeline.submit([fx("a", NOW - 40), fx("a", NOW - 30)], source="json")
    assert result.stored == 1
    assert [(r.index, r.kind) for r in result.rejections] == [(0, RejectionKind.DUPLICATE)]
    assert await pool.fetchval("SELECT count(*) FROM positions") == 3


async def test_close_drains_what_is_queued(services: Services, pool: asyncpg.Pool) -> None:
    p = IngestPipeline.from_services(services, commit_interval_s=5.0)
    await p.start()
    await p.submit([fx("warm", NOW - 9)], source="json")
    async with pool.acquire() as blocker:
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")  # a slow database
        tasks = [asyncio.create_task(p.submit([fx(f"v{i}", NOW - 1)], source="json")) for i in range(20)]
        await asyncio.sleep(0.3)
        assert not any(t.done() for t in tasks)
        assert p.statistics()["buffered_fixes"] == 20
        closing = asyncio.create_task(p.close(timeout_s=30))
        await asyncio.sleep(0.3)
        assert not closing.done()  # waiting for the commits, not abandoning them
        await lock.rollback()
    await closing
    assert all(t.result().stored == 1 for t in tasks)
    assert await pool.fetchval("SELECT count(*) FROM positions") == 21
    with pytest.raises(IngestUnavailable, match="shutting down"):
        await p.submit([fx("late", NOW)], source="json")


async def test_statistics_and_metrics_show_the_pipeline(pipeline: IngestPipeline, services: Services) -> None:
    await pipeline.submit([fx("a", NOW - 2), fx("a", NOW - 2)], source="json")
    stats = pipeline.statistics()
    assert stats["stored"] == 1 and stats["duplicates"] == 1 and stats["buffered_fixes"] == 0
    assert stats["storage_up"] is True
    text = generate_latest(services.registry).decode()
    for line in ('transit_ingest_batches_total{path="staged"} 1.0', "transit_ingest_commit_seconds_count 1.0",
                 "transit_ingest_buffer_fixes 0.0", 'transit_rejections_total{kind="duplicate",source="json"} 1.0',
                 "transit_ingest_storage_up 1.0"):
        assert line in text
