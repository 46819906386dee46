"""Stops, routes, vehicles and trips of the rider API, on the tiny feed with a hand-made snapshot."""

from __future__ import annotations

from pathlib import Path

from tests.support.api_city import tiny_now, tiny_services, tiny_snapshot
from transit.app.server import create_app
from transit.core.clock import ManualClock

COMPONENTS = ["transit.app.health:setup", "transit.api.web:setup"]


async def _client(aiohttp_client, pool, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    services = await tiny_services(pool, settings, tmp_path / "feed", ManualClock(0.0))
    index = services.schedule.get()
    services.clock.set(tiny_now(index))  # type: ignore[attr-defined]
    services.snapshots.publish(tiny_snapshot(index, services.clock.now()))
    return services, await aiohttp_client(create_app(services, components=COMPONENTS))


async def _ok(client, path: str):  # type: ignore[no-untyped-def]
    r = await client.get(path)
    assert r.status == 200, (path, await r.text())
    assert r.headers["ETag"] and r.headers["Cache-Control"]
    return await r.json()


async def _error(client, path: str, status: int):  # type: ignore[no-untyped-def]
    r = await client.get(path)
    assert r.status == status, (path, await r.text())
    return (await r.json())["error"]


async def test_stops_near_by_name_and_all(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    near = await _ok(client, "/api/v1/stops?near=36.7,117.507&radius_m=1000")
    assert [s["stop_id"] for s in near["stops"]] == ["B", "A"]  # nearest first, C and D outside 1 km
    assert near["stops"][0]["distance_m"] < near["stops"][1]["distance_m"] < 1000
    assert near["stops"][0]["routes"] == ["L", "1"] and near["count"] == near["total"] == 2
    assert [s["stop_id"] for s in (await _ok(client, "/api/v1/stops?q=丁"))["stops"]] == ["D"]
    everything = await _ok(client, "/api/v1/stops")
    assert [s["stop_id"] for s in everything["stops"]] == ["A", "B", "C", "D"]
    assert "distance_m" not in everything["stops"][0]
    assert (await _ok(client, "/api/v1/stops?limit=2"))["count"] == 2
    for query, parameter in (("near=36.7", "near"), ("near=abc,117", "near"), ("near=91,117", "near"),
                             ("near=36.7,117.5&radius_m=20000", "radius_m"), ("limit=0", "limit")):
        err = await _error(client, f"/api/v1/stops?{query}", 400)
        assert err["parameter"] == parameter, query


async def test_stop_detail(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    stop = await _ok(client, "/api/v1/stops/B")
    assert stop["name"] == {"zh": "乙站", "en": None} and stop["arrivals_url"] == "/api/v1/stops/B/arrivals"
    routes = {r["route_id"]: r for r in stop["routes"]}
    assert set(routes) == {"R1", "L"}
    assert set(routes["R1"]["headsigns"]) == {"丙站", "甲站"} and routes["R1"]["direction_ids"] == [0, 1]
    err = await _error(client, "/api/v1/stops/ZZ", 404)
    assert err["stop"] == "ZZ" and "ZZ" in err["message"]


async def test_routes(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    routes = await _ok(client, "/api/v1/routes")
    assert [(r["route_id"], r["route_short_name"], r["route_long_name"]["zh"]) for r in routes["routes"]] == [
        ("L", "L", "环线"), ("R1", "1", "一路")]
    r1 = await _ok(client, "/api/v1/routes/R1")
    dirs = {d["direction_id"]: d for d in r1["directions"]}
    assert [s["stop_id"] for s in dirs[0]["stops"]] == ["A", "B", "C"]
    assert [s["stop_id"] for s in dirs[1]["stops"]] == ["C", "B", "A"]
    assert dirs[0]["headsign"]["zh"] == "丙站" and dirs[0]["trips"] == 2  # T1 and NIGHT
    assert len(dirs[0]["shape"]) >= 2 and dirs[0]["shape"][0] == [36.7, 117.5]
    loop = await _ok(client, "/api/v1/routes/L?shape=false")
    assert [s["stop_id"] for s in loop["directions"][0]["stops"]] == ["A", "B", "D", "A"]
    assert "shape" not in loop["directions"][0]
    assert (await _error(client, "/api/v1/routes/R9", 404))["route"] == "R9"
    assert (await _error(client, "/api/v1/routes/R1?shape=maybe", 400))["parameter"] == "shape"


async def test_vehicles(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    on_r1 = await _ok(client, "/api/v1/routes/R1/vehicles")
    assert on_r1["count"] == 1 and on_r1["vehicles"][0]["vehicle_id"] == "V1"
    assert (await _ok(client, "/api/v1/routes/L/vehicles"))["vehicles"] == []
    assert (await _error(client, "/api/v1/routes/R9/vehicles", 404))["route"] == "R9"
    assert [v["vehicle_id"] for v in (await _ok(client, "/api/v1/vehicles"))["vehicles"]] == ["V1"]
    assert (await _ok(client, "/api/v1/vehicles?route_id=L"))["count"] == 0
    v1 = await _ok(client, "/api/v1/vehicles/V1")
    assert v1["label"] == "鲁A·12345" and v1["last_fix"] == "2026-11-27T08:01:50+08:00"
    assert v1["trip"]["trip_id"] == "T1" and v1["trip"]["block_id"] == "BLK1"
    assert v1["stop_id"] == "B" and v1["stop_name"]["zh"] == "乙站" and v1["schedule_deviation_s"] == 90
    assert [s["stop_id"] for s in v1["next_stops"]] == ["B", "C"]
    assert v1["next_stops"][0]["predicted_arrival"] == "2026-11-27T08:06:30+08:00"
    err = await _error(client, "/api/v1/vehicles/V404", 404)
    assert err == {"code": "not_found", "message": "unknown vehicle 'V404'", "vehicle": "V404"}


async def test_trip_stop_by_stop(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    t1 = await _ok(client, "/api/v1/trips/T1")
    assert t1["realtime"] and t1["vehicle_id"] == "V1" and t1["service_date"] == "2026-11-27"
    assert [(s["stop_id"], s["status"], s["predicted_arrival"]) for s in t1["stops"]] == [
        ("A", "passed", None), ("B", "scheduled", "2026-11-27T08:06:30+08:00"),
        ("C", "scheduled", "2026-11-27T08:11:40+08:00")]
    assert t1["stops"][1]["scheduled_arrival"] == "2026-11-27T08:05:00+08:00"
    assert t1["stops"][1]["uncertainty_s"] == 30
    loop = await _ok(client, "/api/v1/trips/LOOP")
    assert loop["realtime"] is False and all(s["predicted_arrival"] is None for s in loop["stops"])
    assert [s["stop_sequence"] for s in loop["stops"]] == [1, 2, 3, 4]
    night = await _ok(client, "/api/v1/trips/NIGHT")
    assert night["canceled"] and {s["status"] for s in night["stops"]} == {"canceled"}
    assert night["stops"][0]["scheduled_arrival"] == "2026-11-28T01:10:00+08:00"
    assert night["stops"][0]["scheduled_time"] == "25:10:00"
    monday = await _ok(client, "/api/v1/trips/T1?service_date=2026-12-01")
    assert monday["realtime"] is False and monday["service_date"] == "2026-12-01"
    assert monday["stops"][0]["scheduled_arrival"] == "2026-12-01T08:00:00+08:00"
    assert (await _error(client, "/api/v1/trips/T9", 404))["trip"] == "T9"
    assert (await _error(client, "/api/v1/trips/T1?service_date=2026-13-01", 400))["parameter"] == "service_date"
    assert (await _error(client, "/api/v1/trips/T1?start_time=8am", 400))["parameter"] == "start_time"
