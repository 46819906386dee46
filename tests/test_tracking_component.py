"""The tracking component in a running app: fixes from ``services.fix_stream`` reach the snapshot
within a second, arrivals / served trips / accuracy land in PostgreSQL, the state is rebuilt from
stored positions after a restart, schedule swaps are followed, and GET /api/v1/accuracy and
/metrics report the service's own accuracy."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest

from feeds.gtfs import import_gtfs
from tests.support.feeds import tiny_feed
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.core.fix import Fix
from transit.schedule.load import load_schedule
from transit.settings import Settings

DAY = dt.date(2026, 3, 2)
COMPONENTS = ("transit.app.health:setup", "transit.tracking.component:setup")


async def make_services(pool, settings: Settings, clock: ManualClock) -> Services:
    services = Services(settings=settings.replace(**{"tracking.accuracy_sample_s": 1.0}), pool=pool, clock=clock)
    await services.schedule.reload(pool)
    return services


def at(services: Services, hhmmss: str) -> float:
    index = services.schedule.get()
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return index.day_start(DAY) + h * 3600 + m * 60 + s


def trip_t1(services: Services, start: str = "08:00:00", every_s: float = 20.0, until_s: float = 600.0) -> list[Fix]:
    """Bus 'b1' on T1 from A (117.50) to C (117.52), on time: 08:00 -> 08:10."""
    t0 = at(services, start)
    out = []
    t = 0.0
    while t <= until_s:
        lon = 117.50 + 0.02 * min(1.0, t / 600.0)
        out.append(Fix("b1", t0 + t, 36.70, lon, trip_id="T1", route_id="R1", source="test"))
        t += every_s
    return out


@pytest.fixture
async def feed(pool, tmp_path: Path) -> None:
    await import_gtfs(pool, tiny_feed(tmp_path / "gtfs"))


async def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_a_fix_shows_in_the_snapshot_within_a_second(feed, pool, settings, aiohttp_client) -> None:
    clock = ManualClock(0.0)
    services = await make_services(pool, settings, clock)
    clock.set(at(services, "08:03:00"))
    client = await aiohttp_client(create_app(services, COMPONENTS))
    assert services.extras["tracker"].engine is not None
    fixes = [f for f in trip_t1(services) if f.ts <= clock.now()]
    sent = time.monotonic()
    services.fix_stream.put_nowait([Fix(**{**_asdict(f), "received_ts": clock.now()}) for f in fixes])
    await wait_for(lambda: "b1" in services.snapshots.current().vehicles, timeout_s=1.0)
    elapsed = time.monotonic() - sent
    snap = services.snapshots.current()
    state = snap.vehicles["b1"]
    assert state.trip_id == "T1" and state.assignment == "trip_id"
    assert elapsed < 1.0
    trip = snap.trips[state.trip_entity_id]
    assert [c.stop_id for c in trip.calls] == ["B", "C"]
    stats = services.extras["tracker"].statistics()
    assert stats["tracker"]["fixes"] == len(fixes)
    resp = await client.get("/readyz")
    assert (await resp.json())["checks"]["snapshot"]["vehicles"] == 1


async def test_arrivals_served_trips_and_accuracy_are_stored(feed, pool, settings, aiohttp_client) -> None:
    clock = ManualClock(0.0)
    services = await make_services(pool, settings, clock)
    clock.set(at(services, "07:59:00"))
    client = await aiohttp_client(create_app(services, COMPONENTS))
    for f in trip_t1(services):
        clock.set(f.ts)
        services.fix_stream.put_nowait([f])
        await wait_for(lambda f=f: services.snapshots.current().vehicles.get("b1") is not None
                       and services.snapshots.current().vehicles["b1"].ts >= f.ts)
    clock.advance(30.0)
    await asyncio.sleep(1.2)  # the writer publishes and scores at least once more
    service = services.extras["tracker"]
    service.engine.monitor.score(clock.now() + 60)
    await service.flush(slow=True)
    rows = await pool.fetch("SELECT * FROM stop_arrivals ORDER BY stop_sequence")
    assert [r["stop_id"] for r in rows] == ["A", "B", "C"]
    assert rows[0]["method"] == "first_stop" and rows[0]["arrival_at"] is None
    b = rows[1]
    assert abs(b["arrival_at"].timestamp() - at(services, "08:05:00")) < 30
    assert b["trip_id"] == "T1" and b["route_id"] == "R1" and b["vehicle_id"] == "b1"
    served = await pool.fetch("SELECT * FROM served_trips ORDER BY trip_id")
    # T1 as it ran, and T2 (the block's next trip, predicted with T1's delay carried over)
    assert [(r["trip_id"], r["service_date"], r["route_id"]) for r in served] == [("T1", DAY, "R1"), ("T2", DAY, "R1")]
    assert served[0]["snapshots"] >= 10
    acc = await pool.fetch("SELECT * FROM prediction_accuracy WHERE route_id = 'R1'")
    assert acc and sum(r["n"] for r in acc) > 0
    resp = await client.get("/api/v1/accuracy")
    assert resp.status == 200
    body = await resp.json()
    assert body["date"] == DAY.isoformat() and body["source"] == "live"
    assert [b["bucket"] for b in body["overall"]] == ["0-3", "3-6", "6-12", "12-30"]
    assert body["lines"]["R1"][0]["n"] > 0 and body["overall"][0]["mae_s"] is not None
    stored = await client.get("/api/v1/accuracy", params={"date": "2026-03-01"})
    assert (await stored.json())["source"] == "stored"
    metrics = await (await client.get("/metrics")).text()
    assert "transit_tracker_fixes_total" in metrics
    assert 'transit_prediction_mae_seconds{bucket="0-3",route_id="R1"}' in metrics
    assert "transit_tracker_fix_to_snapshot_seconds_bucket" in metrics


async def test_flush_returns_only_once_a_batch_another_flush_is_writing_is_stored(
    feed, pool, settings, aiohttp_client
) -> None:
    clock = ManualClock(0.0)
    services = await make_services(pool, settings, clock)
    clock.set(at(services, "07:59:00"))
    await aiohttp_client(create_app(services, COMPONENTS))
    service = services.extras["tracker"]
    flusher = next(t for t in service._tasks if t.get_name() == "tracker-flush")
    flusher.cancel()  # this test plays the background flusher itself
    async with pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE stop_arrivals IN ACCESS EXCLUSIVE MODE")
        for f in trip_t1(services):
            clock.set(f.ts)
            services.fix_stream.put_nowait([f])
            await wait_for(lambda f=f: services.snapshots.current().vehicles.get("b1") is not None
                           and services.snapshots.current().vehicles["b1"].ts >= f.ts)
        first = asyncio.create_task(service.flush(slow=False))  # takes the arrivals, waits on the lock
        await wait_for(lambda: not service._events)  # they are being written
        second = asyncio.create_task(service.flush(slow=False))
        await asyncio.sleep(0.3)
        assert not second.done()  # nothing stored yet: it must not report done
        await tx.rollback()
    await asyncio.wait_for(asyncio.gather(first, second), 10.0)
    stored = await pool.fetchval("SELECT count(*) FROM stop_arrivals")
    assert stored == 3


async def test_accuracy_endpoint_names_bad_parameters(feed, pool, settings, aiohttp_client) -> None:
    clock = ManualClock(0.0)
    services = await make_services(pool, settings, clock)
    clock.set(at(services, "08:00:00"))
    client = await aiohttp_client(create_app(services, COMPONENTS))
    resp = await client.get("/api/v1/accuracy", params={"date": "2026-13-45"})
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["parameter"] == "date" and "2026-13-45" in err["message"]
    resp = await client.get("/api/v1/accuracy", params={"route_id": "NOPE"})
    assert resp.status == 404 and "NOPE" in (await resp.json())["error"]["message"]


async def test_state_is_rebuilt_from_stored_positions_after_a_restart(feed, pool, settings, aiohttp_client) -> None:
    clock = ManualClock(0.0)
    services = await make_services(pool, settings, clock)
    tz = services.schedule.get().timezone
    fixes = [f for f in trip_t1(services) if f.ts <= at(services, "08:04:00")]
    async with pool.acquire() as conn:
        await conn.execute("SELECT positions_ensure_partition($1, $2)", DAY, tz)
        await conn.executemany(
            "INSERT INTO positions (vehicle_id, ts, lat, lon, trip_id, route_id, source, live, received_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'test', true, $2)",
            [(f.vehicle_id, dt.datetime.fromtimestamp(f.ts, dt.UTC), f.lat, f.lon, f.trip_id, f.route_id)
             for f in fixes],
        )
    clock.set(at(services, "08:04:30"))
    await aiohttp_client(create_app(services, COMPONENTS))
    snap = services.snapshots.current()
    state = snap.vehicles["b1"]
    assert state.trip_id == "T1" and state.ts == fixes[-1].ts
    assert state.stop_id == "B"  # at 08:04 it is on its way to B (due 08:05)
    service = services.extras["tracker"]
    assert service.counters["replayed_fixes"] == len(fixes)
    await service.flush(slow=True)
    # the replay re-detected the first stop's departure; stored once
    rows = await pool.fetch("SELECT stop_sequence FROM stop_arrivals")
    assert [r["stop_sequence"] for r in rows] == [1]


async def test_schedule_swap_is_followed(feed, pool, settings, aiohttp_client, tmp_path: Path) -> None:
    clock = ManualClock(0.0)
    services = await make_services(pool, settings, clock)
    clock.set(at(services, "08:03:00"))
    await aiohttp_client(create_app(services, COMPONENTS))
    services.fix_stream.put_nowait([f for f in trip_t1(services) if f.ts <= clock.now()])
    await wait_for(lambda: "b1" in services.snapshots.current().vehicles)
    old_feed = services.snapshots.current().feed_id
    await import_gtfs(pool, tiny_feed(tmp_path / "v2", replace={
        "stop_times.txt": (tmp_path / "gtfs" / "stop_times.txt").read_text(encoding="utf-8").replace(
            "T1,08:05:00,08:05:30,B,2", "T1,08:06:00,08:06:30,B,2")}))
    index = await load_schedule(pool)
    assert index is not None and index.feed_id != old_feed
    services.schedule.swap(index)
    clock.advance(20.0)
    services.fix_stream.put_nowait([Fix("b1", clock.now(), 36.70, 117.5065, trip_id="T1", route_id="R1")])
    await wait_for(lambda: services.snapshots.current().feed_id == index.feed_id
                   and services.snapshots.current().vehicles.get("b1") is not None
                   and services.snapshots.current().vehicles["b1"].trip_id == "T1")
    trip = next(t for t in services.snapshots.current().trips.values() if t.trip_id == "T1")
    b = next(c for c in trip.calls if c.stop_id == "B")
    assert b.scheduled_arrival_ts == at(services, "08:06:00")


def _asdict(f: Fix) -> dict:
    return {name: getattr(f, name) for name in f.__slots__}  # type: ignore[attr-defined]
