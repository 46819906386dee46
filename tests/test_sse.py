"""GET /api/v1/stops/{stop_id}/stream: Server-Sent Events through the real server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from tests.support.api_city import tiny_now, tiny_services, tiny_snapshot
from transit.api.web import API_STATE
from transit.app.server import create_app
from transit.core.clock import ManualClock

COMPONENTS = ["transit.app.health:setup", "transit.api.web:setup"]


async def _setup(aiohttp_client, pool, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = settings.replace(**{"api.stream_heartbeat_s": 0.5})
    services = await tiny_services(pool, settings, tmp_path / "feed", ManualClock(0.0))
    index = services.schedule.get()
    services.clock.set(tiny_now(index))  # type: ignore[attr-defined]
    services.snapshots.publish(tiny_snapshot(index, services.clock.now()))
    return services, await aiohttp_client(create_app(services, components=COMPONENTS))


async def next_event(response: Any, timeout_s: float = 5.0) -> dict[str, str]:
    """The next event (its fields), skipping comments and the retry hint."""
    event: dict[str, str] = {}
    async with asyncio.timeout(timeout_s):
        while True:
            line = (await response.content.readline()).decode()
            if line == "":
                return {"eof": "1"}
            line = line.rstrip("\n")
            if not line:
                if "event" in event or "data" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            event[name] = value.lstrip(" ")


async def test_pushes_on_change_and_beats_when_quiet(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _setup(aiohttp_client, pool, settings, tmp_path)
    index = services.schedule.get()
    now = services.clock.now()
    r = await client.get("/api/v1/stops/B/stream")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers["Cache-Control"] == "no-cache"
    first = await next_event(r)
    assert first["event"] == "arrivals" and first["id"] == "1"
    snapshot_body = await (await client.get("/api/v1/stops/B/arrivals")).json()
    assert json.loads(first["data"]) == snapshot_body  # the same JSON as the arrivals endpoint

    # a snapshot that changes nothing at B: no push, only heartbeats
    services.snapshots.publish(tiny_snapshot(index, now, version=2))
    beat = await next_event(r)
    assert beat["event"] == "heartbeat" and json.loads(beat["data"])["time"].startswith("2026-11-27T08:02:00")

    # the bus is later now: pushed at once
    started = time.monotonic()
    services.snapshots.publish(tiny_snapshot(index, now, version=3, delay_s=240.0))
    pushed = await next_event(r)
    while pushed["event"] == "heartbeat":
        pushed = await next_event(r)
    assert pushed["event"] == "arrivals" and pushed["id"] == "3"
    assert time.monotonic() - started < 2.0
    t1 = json.loads(pushed["data"])["arrivals"][0]
    assert t1["trip_id"] == "T1" and t1["schedule_deviation_s"] == 240
    r.close()


async def test_many_watchers_one_build_per_snapshot(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, client = await _setup(aiohttp_client, pool, settings, tmp_path)
    index = services.schedule.get()
    streams = [await client.get("/api/v1/stops/B/stream") for _ in range(20)]
    firsts = [await next_event(s) for s in streams]
    assert len({f["data"] for f in firsts}) == 1
    cache = client.app[API_STATE].arrivals
    builds = cache.statistics()["builds"]
    services.snapshots.publish(tiny_snapshot(index, services.clock.now(), version=2, delay_s=30.0))
    seconds = []
    for s in streams:
        e = await next_event(s)
        while e["event"] != "arrivals":
            e = await next_event(s)
        seconds.append(e)
    assert {e["id"] for e in seconds} == {"2"}
    assert cache.statistics()["builds"] == builds + 1  # one body for the twenty clients
    for s in streams:
        s.close()


async def test_unknown_stop_and_bad_parameter_before_the_stream(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _setup(aiohttp_client, pool, settings, tmp_path)
    r = await client.get("/api/v1/stops/NOPE/stream")
    assert r.status == 404 and (await r.json())["error"]["stop"] == "NOPE"
    r = await client.get("/api/v1/stops/B/stream?limit=zero")
    assert r.status == 400 and (await r.json())["error"]["parameter"] == "limit"


async def test_shutdown_ends_open_streams(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, client = await _setup(aiohttp_client, pool, settings, tmp_path)
    r = await client.get("/api/v1/stops/B/stream")
    await next_event(r)
    started = time.monotonic()
    await client.server.close()  # graceful shutdown: streams end instead of holding it up
    assert time.monotonic() - started < 5.0
    event = await next_event(r, timeout_s=2.0)
    while "eof" not in event:
        event = await next_event(r, timeout_s=2.0)
