"""POST /api/v1/ingest/gtfs-rt on a real server and PostgreSQL: the real Bull Runner message,
every field of a VehiclePosition, per-entity rejections beside kept entities, and bodies that are
not FeedMessages at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from google.transit import gtfs_realtime_pb2

from feeds.gps.gtfsrt import FeedDecodeError, decode_vehicle_positions
from tests.conftest import ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.settings import Settings

BULL_TS = 1505314375  # the Bull Runner message's header timestamp
URL = "/api/v1/ingest/gtfs-rt"
COMPONENTS = ["transit.app.health:setup", "feeds.gps.component:setup"]


@pytest.fixture
def make_client(pool: asyncpg.Pool, aiohttp_client: Any) -> Callable[..., Any]:
    async def make(settings: Settings, now: float = BULL_TS + 30.0) -> Any:
        services = Services(settings=settings, pool=pool, clock=ManualClock(now))
        return await aiohttp_client(create_app(services, components=COMPONENTS))
    return make


def feed(*entities: gtfs_realtime_pb2.FeedEntity, ts: int = BULL_TS) -> bytes:
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = ts
    for e in entities:
        message.entity.append(e)
    return message.SerializePartialToString()  # partial: some tests send what the spec requires


def vehicle(entity_id: str, vehicle_id: str | None, lat: float | None = 36.71, lon: float | None = 117.54,
            **extra: Any) -> gtfs_realtime_pb2.FeedEntity:
    e = gtfs_realtime_pb2.FeedEntity(id=entity_id)
    v = e.vehicle
    if vehicle_id is not None:
        v.vehicle.id = vehicle_id
    if lat is not None:
        v.position.latitude = lat
    if lon is not None:
        v.position.longitude = lon
    for key, value in extra.items():
        target, _, name = key.rpartition("__")
        obj = v
        for part in target.split("__") if target else []:
            obj = getattr(obj, part)
        setattr(obj, name, value)
    return e


async def test_the_bull_runner_message_ingests(make_client: Any, settings: Settings, pool: asyncpg.Pool,
                                               shared_data: Path) -> None:
    client = await make_client(settings)
    body = (shared_data / "bullrunner" / "bullrunner-vehicle-positions").read_bytes()
    resp = await client.post(URL, data=body, headers={**ingest_headers(), "Content-Type": "application/x-protobuf"})
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["accepted"] == 10 and answer["rejected"] == []
    assert answer["entities"] == 10 and answer["header_timestamp"] == BULL_TS
    rows = await pool.fetch("SELECT vehicle_id, route_id, bearing_deg, lat, lon, extract(epoch FROM ts) AS ts, "
                            "source FROM positions ORDER BY vehicle_id")
    assert [r["vehicle_id"] for r in rows] == sorted(["1536", "1537", "1331", "2252", "3004", "1538", "3001",
                                                      "3002", "1124", "9012"])
    first = {r["vehicle_id"]: r for r in rows}["1536"]
    # No VehiclePosition.timestamp in this feed: the header's time stands for each fix.
    assert (first["route_id"], first["bearing_deg"], first["ts"]) == ("F", 180.0, BULL_TS)
    assert first["lat"] == pytest.approx(28.0662212) and first["lon"] == pytest.approx(-82.4176941)
    assert first["source"] == "gtfs-rt"


async def test_every_vehicle_position_field_is_kept(make_client: Any, settings: Settings, pool: asyncpg.Pool) -> None:
    client = await make_client(settings)
    e = vehicle("e1", "bus-7", timestamp=BULL_TS - 12, trip__trip_id="T42", trip__route_id="K1",
                trip__start_date="20170913", trip__start_time="10:30:00", vehicle__label="鲁A·12345",
                position__bearing=91.5, position__speed=7.25, position__odometer=15000.5)
    resp = await client.post(URL, data=feed(e), headers=ingest_headers())
    assert (await resp.json())["accepted"] == 1
    row = await pool.fetchrow("SELECT *, extract(epoch FROM ts) AS epoch FROM positions")
    assert row["epoch"] == BULL_TS - 12
    assert (row["trip_id"], row["route_id"], row["start_date"], row["start_time"]) == (
        "T42", "K1", "20170913", "10:30:00")
    assert (row["label"], row["bearing_deg"], row["speed_mps"], row["odometer_m"]) == ("鲁A·12345", 91.5, 7.25, 15000.5)


async def test_bad_entities_are_rejected_and_good_ones_kept(make_client: Any, settings: Settings,
                                                           pool: asyncpg.Pool) -> None:
    client = await make_client(settings)
    trip_update = gtfs_realtime_pb2.FeedEntity(id="tu")
    trip_update.trip_update.trip.trip_id = "T1"
    no_position = gtfs_realtime_pb2.FeedEntity(id="np")
    no_position.vehicle.vehicle.id = "bus-3"
    body = feed(
        vehicle("ok1", "bus-1"),
        no_position,                                       # 1
        vehicle("anon", None),                             # 2
        vehicle("zero", "bus-4", lat=0.0, lon=0.0),        # 3
        vehicle("future", "bus-5", timestamp=BULL_TS + 3600),  # 4
        trip_update,                                       # 5: not a vehicle position
        vehicle("nolat", "bus-6", lat=None),               # 6
        vehicle("far", "bus-8", lat=91.0),                 # 7
        vehicle("ok2", "bus-2", position__speed=-4.0),     # 8: a negative speed
        vehicle("ok3", "bus-9"),
    )
    resp = await client.post(URL, data=body, headers=ingest_headers())
    assert resp.status == 200
    answer = await resp.json()
    assert answer["accepted"] == 2 and answer["ignored"] == 1
    got = [(r["index"], r["kind"]) for r in answer["rejected"]]
    assert got == [(1, "missing_field"), (2, "missing_field"), (3, "null_island"), (4, "future_timestamp"),
                   (6, "missing_field"), (7, "invalid_coordinates"), (8, "bad_value")]
    details = {r["index"]: r["detail"] for r in answer["rejected"]}
    assert "vehicle.position is missing" in details[1] and "'np'" in details[1]
    assert "vehicle.vehicle.id" in details[2]
    assert "speed_mps=-4.0" in details[8]
    assert sorted(r["vehicle_id"] for r in await pool.fetch("SELECT vehicle_id FROM positions")) == ["bus-1", "bus-9"]
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="missing_field",source="gtfs-rt"} 3.0' in metrics
    assert 'transit_rejections_total{kind="null_island",source="gtfs-rt"} 1.0' in metrics


@pytest.mark.parametrize(("body", "problem"), [
    (b"", "empty body"),
    (b"this is not protobuf at all \xff\xff\xff", "not a GTFS-Realtime FeedMessage"),
    (b'{"entity": []}', "not a GTFS-Realtime FeedMessage"),
])
async def test_a_body_that_is_not_a_feed_message_is_a_400(make_client: Any, settings: Settings,
                                                         body: bytes, problem: str) -> None:
    client = await make_client(settings)
    resp = await client.post(URL, data=body, headers=ingest_headers())
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "malformed_feed" and problem in error["message"]
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="malformed",source="gtfs-rt"} 1.0' in metrics


async def test_the_ingest_token_is_required(make_client: Any, settings: Settings) -> None:
    client = await make_client(settings)
    assert (await client.post(URL, data=feed(vehicle("a", "b")))).status == 401
    resp = await client.post(URL, data=feed(vehicle("a", "b")), headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401


async def test_an_oversized_body_is_refused(make_client: Any, settings: Settings) -> None:
    client = await make_client(settings.replace(**{"ingest.max_body_bytes": 1024}))
    body = feed(*(vehicle(str(i), f"bus-{i}") for i in range(100)))
    resp = await client.post(URL, data=body, headers=ingest_headers())
    assert resp.status == 413
    assert "TRANSIT_INGEST_MAX_BODY_BYTES" in (await resp.json())["error"]["message"]


async def test_a_full_buffer_is_a_503_with_retry_after(make_client: Any, settings: Settings, pool: asyncpg.Pool) -> None:
    client = await make_client(settings.replace(**{"ingest.buffer_max_fixes": 5}))
    resp = await client.post(URL, data=feed(*(vehicle(str(i), f"bus-{i}") for i in range(8))), headers=ingest_headers())
    assert resp.status == 503
    assert int(resp.headers["Retry-After"]) >= 1
    assert "ingest buffer full" in (await resp.json())["error"]["message"]
    assert await pool.fetchval("SELECT count(*) FROM positions") == 0


def test_the_decoder_falls_back_to_the_receive_time() -> None:
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.entity.append(vehicle("a", "bus-1"))
    decoded = decode_vehicle_positions(message.SerializeToString(), received_ts=1234.5)
    assert decoded.header_ts is None and decoded.fixes[0].ts == 1234.5
    with pytest.raises(FeedDecodeError):
        decode_vehicle_positions(b"\x0a", received_ts=0.0)


def test_a_zero_field_that_is_set_is_kept_and_an_absent_one_is_none() -> None:
    """A bus standing still reports speed 0, due north is bearing 0: set zeros are values, not gaps."""
    stopped = vehicle("a", "bus-1", position__speed=0.0, position__bearing=0.0, position__odometer=0.0,
                      timestamp=0)
    bare = vehicle("b", "bus-2")
    on_equator = vehicle("c", "bus-3", lat=0.0, lon=117.5)
    decoded = decode_vehicle_positions(feed(stopped, bare, on_equator), received_ts=BULL_TS + 5.0)
    first, second, third = decoded.fixes
    assert (first.speed_mps, first.bearing_deg, first.odometer_m, first.ts) == (0.0, 0.0, 0.0, 0.0)
    assert (second.speed_mps, second.bearing_deg, second.odometer_m, second.ts) == (None, None, None, BULL_TS)
    assert (second.trip_id, second.route_id, second.start_date, second.label) == (None, None, None, None)
    assert (third.lat, third.lon) == (0.0, 117.5) and not decoded.rejections
