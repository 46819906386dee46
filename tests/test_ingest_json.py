"""POST /api/v1/ingest/positions: the JSON schema of docs/ingest.md, a batch mixing good and bad
items (good ones kept, bad ones named by index), and bodies that are not batches."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from tests.conftest import admin_headers, ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.settings import Settings

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 5, 1, 8, 30, tzinfo=SHANGHAI).timestamp()
URL = "/api/v1/ingest/positions"


@pytest.fixture
def client_for(pool: asyncpg.Pool, aiohttp_client: Any) -> Callable[..., Any]:
    async def make(settings: Settings) -> Any:
        services = Services(settings=settings, pool=pool, clock=ManualClock(NOW))
        return await aiohttp_client(create_app(services, components=[
            "transit.app.health:setup", "feeds.gps.component:setup"]))
    return make


async def test_the_documented_example_is_stored(client_for: Any, settings: Settings, pool: asyncpg.Pool) -> None:
    client = await client_for(settings)
    body = {"positions": [
        {"vehicle_id": "鲁A·12345", "ts": "2025-05-01T08:29:55+08:00", "lat": 36.7128, "lon": 117.5412,
         "speed_mps": 8.3, "bearing_deg": 92, "route_id": "K1", "trip_id": "K1-0830", "block_id": "B3",
         "start_date": "20250501", "start_time": "08:30:00", "label": "K1 路", "odometer_m": 120345.5},
        {"vehicle_id": 17, "ts": NOW - 3, "lat": 36.70, "lon": 117.52},
        {"vehicle_id": "bus-9", "ts": "2025-05-01 08:29:50", "lat": 36.7, "lon": 117.5, "live": False},
    ]}
    resp = await client.post(URL, json=body, headers=ingest_headers())
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"accepted": 3, "rejected": []}
    rows = {r["vehicle_id"]: r for r in await pool.fetch("SELECT *, extract(epoch FROM ts) AS epoch FROM positions")}
    plate = rows["鲁A·12345"]
    assert plate["epoch"] == NOW - 5
    assert (plate["route_id"], plate["trip_id"], plate["block_id"], plate["label"]) == ("K1", "K1-0830", "B3", "K1 路")
    assert (plate["speed_mps"], plate["bearing_deg"], plate["odometer_m"]) == (pytest.approx(8.3), 92.0, 120345.5)
    assert rows["17"]["epoch"] == NOW - 3
    # A time without an offset is local time in the service's zone (Asia/Shanghai).
    assert rows["bus-9"]["epoch"] == NOW - 10 and rows["bus-9"]["live"] is False


async def test_a_batch_mixing_good_and_bad_items(client_for: Any, settings: Settings, pool: asyncpg.Pool) -> None:
    client = await client_for(settings)
    items: list[Any] = [
        {"vehicle_id": "a", "ts": NOW, "lat": 36.7, "lon": 117.5},                      # 0 good
        {"vehicle_id": "b", "ts": NOW, "latitude": 36.7, "longitude": 117.5},           # 1 wrong names
        "not an object",                                                                 # 2
        {"vehicle_id": "c", "ts": NOW * 1000, "lat": 36.7, "lon": 117.5},               # 3 milliseconds
        {"vehicle_id": "d", "ts": "yesterday", "lat": 36.7, "lon": 117.5},              # 4
        {"vehicle_id": "e", "ts": NOW, "lat": "36.7", "lon": 117.5},                    # 5
        {"vehicle_id": "f", "ts": NOW, "lat": 0, "lon": 0},                             # 6
        {"vehicle_id": "g", "ts": NOW - 30 * 86400, "lat": 36.7, "lon": 117.5},         # 7
        {"vehicle_id": "a", "ts": NOW, "lat": 36.7, "lon": 117.5},                      # 8 duplicate of 0
        {"vehicle_id": "h", "ts": NOW, "lat": 36.7, "lon": 117.5, "speed_mps": True},   # 9
        {"ts": NOW, "lat": 36.7, "lon": 117.5},                                          # 10
        {"vehicle_id": "i", "ts": NOW - 1, "lat": 36.7, "lon": 117.5, "live": "yes"},   # 11
        {"vehicle_id": "j", "ts": NOW - 1, "lat": 36.71, "lon": 117.51},                # 12 good
    ]
    resp = await client.post(URL, json=items, headers=ingest_headers())
    assert resp.status == 200
    answer = await resp.json()
    assert answer["accepted"] == 2
    assert [(r["index"], r["kind"]) for r in answer["rejected"]] == [
        (1, "missing_field"), (2, "malformed"), (3, "bad_value"), (4, "bad_value"), (5, "bad_value"),
        (6, "null_island"), (7, "stale_timestamp"), (8, "duplicate"), (9, "bad_value"), (10, "missing_field"),
        (11, "bad_value")]
    detail = {r["index"]: r["detail"] for r in answer["rejected"]}
    assert "lat is missing (found 'latitude'" in detail[1] and "(vehicle b)" in detail[1]
    assert "looks like milliseconds" in detail[3]
    assert "'yesterday' is not ISO 8601" in detail[4]
    assert "lat: expected a number, got '36.7'" in detail[5]
    assert "vehicle_id is missing" in detail[10]
    assert sorted(r["vehicle_id"] for r in await pool.fetch("SELECT vehicle_id FROM positions")) == ["a", "j"]
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="bad_value",source="json"} 5.0' in metrics
    assert 'transit_rejections_total{kind="duplicate",source="json"} 1.0' in metrics
    assert 'transit_ingest_fixes_stored_total{source="json"} 2.0' in metrics


@pytest.mark.parametrize(("body", "code", "problem"), [
    (b'{"positions": [', "malformed_json", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "malformed_json", "not valid JSON"),
    (b'{"vehicles": []}', "malformed_batch", 'expected a JSON array of positions, or an object {"positions"'),
    (b'"hello"', "malformed_batch", "expected a JSON array"),
])
async def test_a_body_that_is_not_a_batch_is_a_400(client_for: Any, settings: Settings, body: bytes, code: str,
                                                   problem: str) -> None:
    client = await client_for(settings)
    resp = await client.post(URL, data=body, headers={**ingest_headers(), "Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == code and problem in error["message"]


async def test_tokens(client_for: Any, settings: Settings) -> None:
    client = await client_for(settings)
    body = json.dumps([{"vehicle_id": "a", "ts": NOW, "lat": 36.7, "lon": 117.5}])
    assert (await client.post(URL, data=body)).status == 401
    # The admin token opens ingest too.
    assert (await client.post(URL, data=body, headers=admin_headers())).status == 200


async def test_an_empty_batch_is_fine(client_for: Any, settings: Settings) -> None:
    client = await client_for(settings)
    resp = await client.post(URL, json={"positions": []}, headers=ingest_headers())
    assert resp.status == 200 and await resp.json() == {"accepted": 0, "rejected": []}
