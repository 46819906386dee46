"""GET /api/v1/stops/{stop_id}/arrivals on the tiny feed with a hand-made snapshot.

At 08:02 on Friday 2026-11-27, bus V1 runs T1 (A→B→C, 90 s late) and will run T2 (C→B→A) next
in block BLK1; LOOP has no live data; the night trip NIGHT is cancelled.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tests.support.api_city import TINY_DAY, call, tiny_now, tiny_services, tiny_snapshot
from transit.api.web import API_STATE
from transit.app.server import create_app
from transit.core.clock import ManualClock
from transit.core.snapshot import CallStatus, Snapshot

COMPONENTS = ["transit.app.health:setup", "transit.api.web:setup", "transit.gtfsrt.web:setup"]


async def _client(aiohttp_client, pool, settings, tmp_path: Path, snapshot=None):  # type: ignore[no-untyped-def]
    services = await tiny_services(pool, settings, tmp_path / "feed", ManualClock(0.0))
    index = services.schedule.get()
    services.clock.set(tiny_now(index))  # type: ignore[attr-defined]
    services.snapshots.publish(snapshot(index, services.clock.now()) if snapshot else
                               tiny_snapshot(index, services.clock.now()))
    return services, await aiohttp_client(create_app(services, components=COMPONENTS))


def _by_trip(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["trip_id"]: a for a in rows}


async def test_arrivals_at_a_stop(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _client(aiohttp_client, pool, settings, tmp_path)
    r = await client.get("/api/v1/stops/B/arrivals")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["Cache-Control"] == "public, max-age=5" and r.headers["ETag"].startswith('"')
    data = await r.json()
    assert data["stop"] == {"stop_id": "B", "stop_code": None, "name": {"zh": "乙站", "en": None},
                            "lat": 36.7, "lon": 117.51}
    assert [a["trip_id"] for a in data["arrivals"]] == ["T1", "T2", "LOOP"]  # soonest first, 90 min ahead
    t1, t2, loop = data["arrivals"]
    assert t1 == {
        "route_id": "R1", "route_short_name": "1", "trip_id": "T1", "service_date": "2026-11-27",
        "direction_id": 0, "stop_sequence": 2, "headsign": {"zh": "丙站", "en": None},
        "arrival": "2026-11-27T08:06:30+08:00", "predicted_arrival": "2026-11-27T08:06:30+08:00",
        "scheduled_arrival": "2026-11-27T08:05:00+08:00", "departure": "2026-11-27T08:07:00+08:00",
        "predicted_departure": "2026-11-27T08:07:00+08:00", "scheduled_departure": "2026-11-27T08:05:30+08:00",
        "minutes_away": 4, "stops_away": 0, "distance_away_m": 492, "realtime": True, "status": "scheduled",
        "at_stop": False, "vehicle_id": "V1", "schedule_deviation_s": 90, "uncertainty_s": 30,
        "last_fix": "2026-11-27T08:01:50+08:00",
    }
    # the bus's next trip in the block: real-time, counted through the rest of T1
    assert t2["realtime"] and t2["vehicle_id"] == "V1" and t2["headsign"]["zh"] == "甲站"
    assert t2["stops_away"] == 3 and t2["distance_away_m"] == 1383 + 892
    assert t2["predicted_arrival"] == "2026-11-27T08:26:00+08:00"
    # no live data: the schedule, said so
    assert loop["realtime"] is False and loop["predicted_arrival"] is None
    assert loop["arrival"] == loop["scheduled_arrival"] == "2026-11-27T09:05:00+08:00"
    assert loop["predicted_departure"] is None and loop["departure"] == loop["scheduled_departure"]
    assert loop["vehicle_id"] is None and loop["last_fix"] is None and loop["uncertainty_s"] is None

    lines = {line["route_id"]: line for line in data["lines"]}
    assert [line["route_short_name"] for line in data["lines"]] == ["1", "L"]
    assert lines["R1"]["first_bus"] == "2026-11-27T08:05:30+08:00"
    assert lines["R1"]["last_bus"] == "2026-11-28T01:15:00+08:00"  # NIGHT, 25:15 on the service day
    assert lines["R1"]["next_first_bus"] == "2026-11-28T08:05:30+08:00"  # Saturday runs (calendar_dates)
    assert [a["trip_id"] for a in lines["R1"]["arrivals"]] == ["T1", "T2"]
    assert [a["trip_id"] for a in lines["L"]["arrivals"]] == ["LOOP"]
    assert lines["L"]["first_bus"] == "2026-11-27T09:05:00+08:00"
    del services


async def test_cancelled_and_skipped_calls_are_shown(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def snapshot(index, now):  # type: ignore[no-untyped-def]
        base = tiny_snapshot(index, now)
        t2 = base.trips["20261127:T2"]
        ds = index.day_start(TINY_DAY)
        calls = (t2.calls[0], call(index, "T2", 2, ds, 60.0, status=CallStatus.SKIPPED), t2.calls[2])
        t2 = dataclasses.replace(t2, calls=calls)
        return Snapshot.build(2, now, index.feed_id, base.vehicles, {**base.trips, t2.entity_id: t2})

    _, client = await _client(aiohttp_client, pool, settings, tmp_path, snapshot)
    b = _by_trip((await (await client.get("/api/v1/stops/B/arrivals")).json())["arrivals"])
    assert b["T2"]["status"] == "skipped" and b["T2"]["realtime"] and b["T1"]["status"] == "scheduled"
    day = _by_trip((await (await client.get("/api/v1/stops/A/arrivals?minutes=1440")).json())["arrivals"])
    assert day["NIGHT"]["status"] == "canceled"
    assert day["NIGHT"]["scheduled_arrival"] == "2026-11-28T01:10:00+08:00"


async def test_filters_limit_and_window(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    data = await (await client.get("/api/v1/stops/B/arrivals?route_id=L")).json()
    assert [a["trip_id"] for a in data["arrivals"]] == ["LOOP"] and [x["route_id"] for x in data["lines"]] == ["L"]
    both = await (await client.get("/api/v1/stops/B/arrivals?route_id=L,R1")).json()
    assert len(both["arrivals"]) == 3 and both == await (await client.get(
        "/api/v1/stops/B/arrivals?route_id=R1&route_id=L")).json()
    one = await (await client.get("/api/v1/stops/B/arrivals?limit=1&per_line=1")).json()
    assert [a["trip_id"] for a in one["arrivals"]] == ["T1"] and one["limit"] == 1
    assert [[a["trip_id"] for a in line["arrivals"]] for line in one["lines"]] == [["T1"], ["LOOP"]]
    bare = await (await client.get("/api/v1/stops/B/arrivals?per_line=0")).json()
    assert len(bare["arrivals"]) == 3 and all(line["arrivals"] == [] for line in bare["lines"])
    soon = await (await client.get("/api/v1/stops/B/arrivals?minutes=30")).json()
    assert [a["trip_id"] for a in soon["arrivals"]] == ["T1", "T2"] and soon["minutes"] == 30


async def test_errors_name_the_id_or_parameter(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    r = await client.get("/api/v1/stops/NOPE/arrivals")
    assert r.status == 404 and r.headers["Cache-Control"] == "no-store"
    assert (await r.json())["error"] == {"code": "not_found", "message": "unknown stop 'NOPE'", "stop": "NOPE"}
    r = await client.get("/api/v1/stops/B/arrivals?route_id=R9")
    err = (await r.json())["error"]
    assert r.status == 404 and err["route"] == "R9" and "R9" in err["message"]
    for query, parameter in (("limit=0", "limit"), ("limit=abc", "limit"), ("limit=201", "limit"),
                             ("minutes=-5", "minutes"), ("minutes=1e3", "minutes"), ("route_id=", "route_id")):
        r = await client.get(f"/api/v1/stops/B/arrivals?{query}")
        err = (await r.json())["error"]
        assert r.status == 400 and err["code"] == "bad_parameter" and err["parameter"] == parameter, query
        assert parameter in err["message"]
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_api_errors_total{endpoint="arrivals",status="400"} 6.0' in metrics
    assert 'transit_api_errors_total{endpoint="arrivals",status="404"} 2.0' in metrics


async def test_the_routed_path_answers_like_the_direct_one(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Plain GETs are answered ahead of the router; HEAD and percent-encoded ids go through it."""
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    direct = await client.get("/api/v1/stops/B/arrivals")
    routed = await client.get("/api/v1/stops/%42/arrivals")  # %42 is "B"
    assert direct.status == routed.status == 200
    assert await direct.read() == await routed.read() and direct.headers["ETag"] == routed.headers["ETag"]
    head = await client.head("/api/v1/stops/B/arrivals")
    assert head.status == 200 and head.headers["ETag"] == direct.headers["ETag"]
    missing = await client.get("/api/v1/stops/N%4fPE/arrivals")
    assert missing.status == 404 and (await missing.json())["error"]["stop"] == "NOPE"
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_api_requests_total{endpoint="arrivals"} 4.0' in metrics


async def test_etag_and_304(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _client(aiohttp_client, pool, settings, tmp_path)
    r = await client.get("/api/v1/stops/B/arrivals")
    etag = r.headers["ETag"]
    body = await r.read()
    r = await client.get("/api/v1/stops/B/arrivals", headers={"If-None-Match": etag})
    assert r.status == 304 and await r.read() == b"" and r.headers["ETag"] == etag
    r = await client.get("/api/v1/stops/B/arrivals", headers={"If-None-Match": f'"other", W/{etag}'})
    assert r.status == 304
    # a new snapshot that changes nothing at B keeps the ETag; one that does changes it
    index = services.schedule.get()
    now = services.clock.now()
    services.snapshots.publish(tiny_snapshot(index, now, version=2))
    r = await client.get("/api/v1/stops/B/arrivals", headers={"If-None-Match": etag})
    assert r.status == 304
    services.snapshots.publish(tiny_snapshot(index, now, version=3, delay_s=200.0))
    await client.app[API_STATE].arrivals.wait_refreshed()  # watched stops are rebuilt in the background
    r = await client.get("/api/v1/stops/B/arrivals", headers={"If-None-Match": etag})
    assert r.status == 200 and r.headers["ETag"] != etag and await r.read() != body


async def test_stale_predictions_fall_back_to_the_schedule(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _client(aiohttp_client, pool, settings, tmp_path)
    services.clock.advance(175.0)  # type: ignore[attr-defined]  # last fix 185 s old: past 180 s
    t1 = _by_trip((await (await client.get("/api/v1/stops/B/arrivals")).json())["arrivals"])["T1"]
    assert t1["realtime"] is False and t1["predicted_arrival"] is None
    assert t1["arrival"] == t1["scheduled_arrival"] == "2026-11-27T08:05:00+08:00"


async def test_watched_stops_are_rebuilt_in_the_background() -> None:
    """After a publish, a watched stop is served from the previous snapshot only until the
    background task reaches it (never when the caller needs the newest, as a live stream does)."""
    import asyncio

    from transit.api.arrivals_cache import ArrivalsCache, ArrivalsQuery, run_refresher
    from transit.core.snapshot import SnapshotHub

    built: list[int] = []

    def payload(snapshot, index, query, now):  # type: ignore[no-untyped-def]
        built.append(snapshot.version)
        return {"version": snapshot.version}

    index = object()
    hub = SnapshotHub(Snapshot.empty())
    cache = ArrivalsCache(payload)
    query = ArrivalsQuery("B", None, 10, 90, 3)
    gen = run_refresher(cache, hub.subscribe, lambda: (hub.current(), index, 100.0))  # type: ignore[arg-type]
    await gen.__anext__()
    await asyncio.sleep(0)  # the background task starts
    hub.publish(Snapshot(1, 100.0, None, {}, {}, {}))
    assert cache.get(hub.current(), index, query, 100.0).payload == {"version": 1}  # type: ignore[arg-type]
    hub.publish(Snapshot(2, 100.0, None, {}, {}, {}))
    behind = cache.get(hub.current(), index, query, 100.0)  # type: ignore[arg-type]
    assert behind.payload == {"version": 1} and cache.statistics()["served_behind"] == 1
    assert cache.get(hub.current(), index, query, 100.0, strict=True).payload == {"version": 2}  # type: ignore[arg-type]
    hub.publish(Snapshot(3, 100.0, None, {}, {}, {}))
    await asyncio.wait_for(cache.wait_refreshed(), 2.0)
    assert cache.statistics()["background_builds"] >= 1
    assert cache.get(hub.current(), index, query, 100.0).payload == {"version": 3}  # type: ignore[arg-type]
    assert built == [1, 2, 3]  # one build per snapshot, whoever asked
    # minutes away move with the clock: a body older than the TTL is rebuilt even without a snapshot
    assert cache.get(hub.current(), index, query, 103.0).built_now == 103.0  # type: ignore[arg-type]
    await gen.aclose()
