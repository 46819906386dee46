"""The GTFS-Realtime endpoints and /gtfs/static.zip over HTTP, on the tiny feed."""

from __future__ import annotations

import email.utils
import hashlib
from pathlib import Path

from tests.support.api_city import tiny_now, tiny_services, tiny_snapshot
from tests.support.gtfsrt_rules import check_feed, decode
from transit.app.server import create_app
from transit.core.clock import ManualClock

COMPONENTS = ["transit.app.health:setup", "transit.api.web:setup", "transit.gtfsrt.web:setup"]


async def _client(aiohttp_client, pool, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    services = await tiny_services(pool, settings, tmp_path / "feed", ManualClock(0.0))
    index = services.schedule.get()
    services.clock.set(tiny_now(index))  # type: ignore[attr-defined]
    services.snapshots.publish(tiny_snapshot(index, services.clock.now()))
    return services, await aiohttp_client(create_app(services, components=COMPONENTS))


async def test_feeds_protobuf_json_gzip_and_304(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _client(aiohttp_client, pool, settings, tmp_path)
    index = services.schedule.get()
    now = services.clock.now()

    r = await client.get("/gtfs-rt/trip-updates", headers={"Accept-Encoding": "identity"})
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-protobuf"
    assert r.headers["Cache-Control"] and r.headers["ETag"]
    body = await r.read()
    message = decode(body)
    assert check_feed(message, index, now) == []
    assert {e.id for e in message.entity} == {"20261127:T1", "20261127:T2", "20261127:LOOP", "20261127:NIGHT"}
    assert message.header.timestamp == int(now)

    r = await client.get("/gtfs-rt/trip-updates", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("Content-Encoding") == "gzip"
    assert await r.read() == body  # the client library inflates it: same bytes

    etag = r.headers["ETag"]
    r = await client.get("/gtfs-rt/trip-updates", headers={"If-None-Match": etag})
    assert r.status == 304 and await r.read() == b""
    since = email.utils.formatdate(message.header.timestamp, usegmt=True)
    r = await client.get("/gtfs-rt/trip-updates", headers={"If-Modified-Since": since})
    assert r.status == 304

    r = await client.get("/gtfs-rt/trip-updates?format=json")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    data = await r.json()
    assert data["header"]["incrementality"] == "FULL_DATASET"
    assert {e["id"] for e in data["entity"]} == {e.id for e in message.entity}

    r = await client.get("/gtfs-rt/trip-updates?format=xml")
    assert r.status == 400 and (await r.json())["error"]["parameter"] == "format"

    r = await client.get("/gtfs-rt/vehicle-positions")
    vp = decode(await r.read())  # decompressed by the client
    assert check_feed(vp, index, now) == []
    assert [e.id for e in vp.entity] == ["V1"] and vp.entity[0].vehicle.trip.trip_id == "T1"


async def test_a_new_snapshot_gives_a_new_feed_the_next_second(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _client(aiohttp_client, pool, settings, tmp_path)
    index = services.schedule.get()
    first = await (await client.get("/gtfs-rt/trip-updates")).read()
    services.snapshots.publish(tiny_snapshot(index, services.clock.now(), version=2, delay_s=150.0))
    same_second = await (await client.get("/gtfs-rt/trip-updates")).read()
    assert same_second == first  # one feed per second: its timestamp stays unique
    services.clock.advance(1.0)  # type: ignore[attr-defined]
    r = await client.get("/gtfs-rt/trip-updates")
    newer = decode(await r.read())
    older = decode(first)
    assert newer.header.timestamp == older.header.timestamp + 1
    assert check_feed(newer, index, services.clock.now(), older) == []
    t1 = next(e for e in newer.entity if e.id == "20261127:T1").trip_update
    assert t1.delay == 150


async def test_static_zip_is_the_imported_archive(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _client(aiohttp_client, pool, settings, tmp_path)
    index = services.schedule.get()
    row = await pool.fetchrow("SELECT archive, sha256 FROM feed_versions WHERE feed_id = $1", index.feed_id)
    r = await client.get("/gtfs/static.zip")
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    body = await r.read()
    assert body == bytes(row["archive"]) and hashlib.sha256(body).hexdigest() == row["sha256"]
    assert r.headers["ETag"] == f'"{row["sha256"]}"'
    r = await client.get("/gtfs/static.zip", headers={"If-None-Match": f'"{row["sha256"]}"'})
    assert r.status == 304


async def test_root_page_links_the_feeds(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _client(aiohttp_client, pool, settings, tmp_path)
    page = await (await client.get("/")).text()
    for path in ("/gtfs-rt/trip-updates", "/gtfs-rt/vehicle-positions", "/gtfs/static.zip", "/api/v1/openapi.json"):
        assert f'href="{path}' in page


async def test_no_feed_loaded_is_503(aiohttp_client, pool, settings) -> None:  # type: ignore[no-untyped-def]
    from transit.app.services import Services

    services = Services(settings=settings, pool=pool)
    client = await aiohttp_client(create_app(services, components=COMPONENTS))
    for path in ("/gtfs-rt/trip-updates", "/gtfs/static.zip", "/api/v1/stops/A/arrivals"):
        r = await client.get(path)
        assert r.status == 503 and (await r.json())["error"]["code"] == "no_schedule"
