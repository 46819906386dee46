"""``transit demo``: the service on the demo network, with buses that move.

Two ways in: the demo app built and run in-process on a fresh database with a fast clock, and
the real command in a subprocess, the way the README runs it, checked within a minute.  Moving
vehicles show in the stored positions (the ingest path) and, once the tracker component is
registered, in the published snapshots.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import asyncpg
import numpy as np
import pytest

from feeds.gtfs.memory import read_index
from tests.conftest import INGEST_TOKEN
from transit.app.components import DEFAULT_COMPONENTS
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock, ScaledClock, SystemClock
from transit.core.ingest import IngestUnavailable
from transit.demo.command import DemoOptions, build_demo_app, choose_start
from transit.demo.feed import NETWORK_DIR
from transit.demo.hooks import run_demo_hooks
from transit.demo.http_sink import HttpJsonSink, SplitSink
from transit.demo.runner import reports_over_http, run_simulator
from transit.demo.simulator import Simulator
from transit.schedule.geometry import project_on_polyline
from transit.schedule.index import ScheduleIndex
from transit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TRACKER_REGISTERED = any(c.startswith("transit.tracking") for c in DEFAULT_COMPONENTS)
TUESDAY_8 = "2026-03-10T08:00"


async def stored_positions(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT vehicle_id, extract(epoch FROM ts)::float8 AS ts, lat, lon, trip_id FROM positions "
        "WHERE source = 'demo' ORDER BY vehicle_id, ts"
    )


def progress_along_shape(index: ScheduleIndex, trip_id: str, track: list[tuple[float, float]]) -> float | None:
    """How far a vehicle advanced along its trip's shape over ``track`` (lat, lon in time order),
    following the shape forward (a street driven twice is matched in order); None if a fix is
    not on the shape."""
    trip = index.trip_pos[trip_id]
    sl = index.shape_points(int(index.trip_shape[trip]))
    lat = np.array([p[0] for p in track])
    lon = np.array([p[1] for p in track])
    x, y = index.projection.to_xy(lat, lon)
    dist, along, _ = project_on_polyline(x, y, index.shape_x[sl], index.shape_y[sl], index.shape_dist_m[sl])
    position = -np.inf
    first = None
    for k in range(len(track)):
        ok = (dist[k] < 50.0) & (along[k] >= position - 30.0)
        if not ok.any():
            return None
        position = float(along[k][ok].min())
        first = position if first is None else first
    return position - (first or 0.0)


async def test_the_demo_shows_moving_vehicles(settings: Settings, pool: asyncpg.Pool, aiohttp_client) -> None:
    services = Services(settings=settings, pool=pool)
    demo = await build_demo_app(services, DemoOptions(speed=60.0, start=TUESDAY_8), hooks=())
    assert isinstance(services.clock, ScaledClock)
    assert "08:00" in demo.clock_note and "60×" in demo.clock_note
    client = await aiohttp_client(demo.app)
    ready = await client.get("/readyz")
    assert ready.status == 200

    index = services.schedule.get()
    tracks: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    deadline = time.monotonic() + 60.0
    moving: list[float] = []
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        tracks.clear()
        for row in await stored_positions(pool):
            if row["trip_id"]:
                tracks[(row["vehicle_id"], row["trip_id"])].append((row["lat"], row["lon"]))
        moving = [p for (_, trip_id), track in tracks.items() if len(track) >= 4
                  and (p := progress_along_shape(index, trip_id, track)) is not None and p > 300.0]
        if len(moving) >= 10:
            break
    assert len(moving) >= 10, f"only {len(moving)} vehicles progressed along their shapes"
    vehicles = {v for v, _ in tracks}
    assert len(vehicles) >= 15
    # the fixes carry the simulated time: 08:00 on the chosen Tuesday and onwards
    first_ts = await pool.fetchval("SELECT extract(epoch FROM min(ts)) FROM positions WHERE source = 'demo'")
    assert abs(float(first_ts) - demo.start_ts) < 120

    if TRACKER_REGISTERED:  # the same buses, live in the service's snapshot
        first = await services.snapshots.wait_newer(0, timeout_s=30.0)
        assert first.vehicles, "the tracker published no vehicles"
        await asyncio.sleep(3.0)  # three simulated minutes
        later = services.snapshots.current()
        moved = [v for v in later.vehicles.values() if v.vehicle_id in first.vehicles
                 and abs(v.lat - first.vehicles[v.vehicle_id].lat) + abs(v.lon - first.vehicles[v.vehicle_id].lon)
                 > 0.0005]
        assert len(moved) >= 5


async def test_the_demo_starts_in_daytime_when_no_bus_runs(pool: asyncpg.Pool, settings: Settings) -> None:
    index = read_index(NETWORK_DIR)
    tz = index.tz
    night = dt.datetime(2026, 3, 10, 3, 14, tzinfo=tz).timestamp()
    start, note = choose_start(index, night)
    assert start == dt.datetime(2026, 3, 10, 8, 0, tzinfo=tz).timestamp()
    assert "03:14" in note and "08:00" in note
    noon = dt.datetime(2026, 3, 10, 12, 0, tzinfo=tz).timestamp()
    assert choose_start(index, noon)[0] == noon
    assert choose_start(index, noon, "06:30")[0] == dt.datetime(2026, 3, 10, 6, 30, tzinfo=tz).timestamp()
    assert choose_start(index, noon, "2026-03-14T09:15")[0] == dt.datetime(2026, 3, 14, 9, 15, tzinfo=tz).timestamp()
    with pytest.raises(ValueError, match="--start"):
        choose_start(index, noon, "tomorrow")

    services = Services(settings=settings, pool=pool)
    await build_demo_app(services, DemoOptions(), hooks=(), components=(), now=noon)
    assert isinstance(services.clock, SystemClock)  # daytime, real speed: the real clock


def setup_broken_demo(app: object, services: object, notes: list[str]) -> None:
    raise RuntimeError("no boards today")


def setup_fine_demo(app: object, services: object, notes: list[str]) -> None:
    notes.append("fine part ready")


def test_a_failing_hook_is_noted_and_the_others_still_run() -> None:
    notes: list[str] = []
    hooks = (f"{__name__}:setup_broken_demo", f"{__name__}:setup_fine_demo", "no.such.module:setup_demo")
    failed = run_demo_hooks(None, None, notes, hooks)
    assert failed == [hooks[0], hooks[2]]
    assert "fine part ready" in notes
    assert any("setup_broken_demo failed to start: RuntimeError: no boards today" in n for n in notes)
    assert any("no.such.module" in n and "ModuleNotFoundError" in n for n in notes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_command_shows_live_buses_within_a_minute(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSIT_")}
    env["TRANSIT_DATABASE_URL"] = db_url
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "transit.cli", "--data-dir", str(tmp_path / "data"), "demo", "--port", str(port),
        "--jt808-port", "0", cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        live = 0
        api_vehicles = 0
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - started < 60.0:
                await asyncio.sleep(1.0)
                assert proc.returncode is None, "transit demo exited"
                live = await pool.fetchval(
                    "SELECT count(DISTINCT vehicle_id) FROM positions WHERE source = 'demo'"
                ) if await pool.fetchval("SELECT to_regclass('positions') IS NOT NULL") else 0
                over_http = await pool.fetchval(
                    "SELECT count(DISTINCT vehicle_id) FROM positions WHERE source = 'json'"
                ) if live else 0
                if TRACKER_REGISTERED:
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/api/v1/vehicles") as resp:
                            api_vehicles = len((await resp.json()).get("vehicles", [])) if resp.status == 200 else 0
                    except aiohttp.ClientError:
                        api_vehicles = 0
                if live >= 10 and over_http >= 1 and (api_vehicles > 0 or not TRACKER_REGISTERED):
                    break
        assert live >= 10, f"{live} simulated buses stored after a minute"
        assert over_http >= 1, "no bus reported through POST /api/v1/ingest/positions"
        if TRACKER_REGISTERED:
            assert api_vehicles > 0, "no live vehicles in /api/v1/vehicles after a minute"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            raw, _ = await asyncio.wait_for(proc.communicate(), 60)
        except TimeoutError:
            proc.kill()
            raw, _ = await proc.communicate()
    out = raw.decode("utf-8")
    assert proc.returncode == 0
    assert f"open http://127.0.0.1:{port}/" in out
    assert f"http://127.0.0.1:{port}/api/v1/stops/T05/arrivals" in out or "/api/v1/stops" not in out
    assert "admin token (TRANSIT_ADMIN_TOKEN):" in out
    assert "clock:" in out


async def test_a_share_of_buses_reports_through_the_http_json_endpoint(
    settings: Settings, pool: asyncpg.Pool, aiohttp_client
) -> None:
    index = read_index(NETWORK_DIR)
    start = dt.datetime(2026, 3, 10, 9, 0, tzinfo=index.tz).timestamp()
    end = start + 600
    clock = ManualClock(end)
    services = Services(settings=settings, pool=pool, clock=clock)
    client = await aiohttp_client(create_app(services, ["transit.app.health:setup", "feeds.gps.component:setup"]))
    assert services.fix_sink is not None
    sim = Simulator(index, seed=2, start_ts=start, source="demo")
    submitted: list[int] = []
    async with aiohttp.ClientSession() as session:
        http = HttpJsonSink(session, str(client.make_url("/")), INGEST_TOKEN)
        split = SplitSink(services.fix_sink, http, reports_over_http)
        await run_simulator(sim, split, ManualClock(end), until_ts=end, source="demo",
                            on_submit=lambda fixes, result: submitted.append(result.stored))
        assert split.other_failures == 0
        sent = Simulator(index, seed=2, start_ts=start).advance(end)
        over_http = [f for f in sent if reports_over_http(f)]
        assert over_http and len(over_http) < len(sent) / 4
        counts = dict(await pool.fetch("SELECT source, count(*) FROM positions GROUP BY source"))
        assert counts == {"json": len(over_http), "demo": len(sent) - len(over_http)}
        assert submitted == [len(sent)]
        row = await pool.fetchrow(
            "SELECT trip_id, route_id, speed_mps, label FROM positions WHERE source = 'json' AND trip_id IS NOT NULL "
            "LIMIT 1")
        assert row["trip_id"] in index.trip_pos and row["route_id"] in index.route_pos

        # a refusal on the HTTP side keeps those fixes queued, and the rest is still stored
        refused = SplitSink(services.fix_sink, HttpJsonSink(session, str(client.make_url("/")), "wrong-token"),
                            reports_over_http)
        more = Simulator(index, seed=3, start_ts=end, source="demo").advance(end + 300)
        clock.advance(300)
        result = await refused.submit(more, "demo")
        assert refused.other_failures == 1
        assert result.stored == len([f for f in more if not reports_over_http(f)])
        with pytest.raises(IngestUnavailable, match="HTTP 401"):
            await HttpJsonSink(session, str(client.make_url("/")), "wrong-token").submit(more[:1], "demo")
