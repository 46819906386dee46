"""The demo's JT/T 808 buses: a share of the simulated fleet reports over the real JT/T 808 TCP
port, as terminals registered in the terminal registry.

The demo runs in-process on a fresh database with a fast clock.  What is checked is what an
operator would look at: the registry (who is registered, authenticated, connected), the stored
positions (source, line, plate, no trip), the server's message counts, and that a dropped
connection loses nothing: every position the simulator produced for those buses is stored once,
with the coordinates it had.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from tests.conftest import admin_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.cli import main
from transit.core.clock import ManualClock
from transit.core.fix import Fix
from transit.demo.command import DemoOptions, banner, build_demo_app
from transit.demo.jt808_buses import Jt808Fleet, Jt808Options
from transit.demo.jt808_roster import plan_roster, reports_over_jt808
from transit.demo.simulator import Simulator
from transit.settings import Settings

COMPONENTS = ("transit.app.health:setup", "feeds.gps.component:setup", "feeds.gps.jt808.component:setup")
TUESDAY_8 = "2026-03-10T08:00"
#: A phone of the 2013 header (BCD[6]): at most 12 digits, no leading zero.
PHONE = re.compile(r"^1[0-9]{10,11}$")
PLATE = re.compile(r"^鲁A·[0-9]{5}[DF]$")


async def metric(client: Any, name: str, **labels: str) -> float:
    text = await (await client.get("/metrics")).text()
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and \
                all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def wait_until(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


async def jt808_counts(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT vehicle_id, count(*) AS n FROM positions WHERE source = 'jt808' GROUP BY 1")
    return {r["vehicle_id"]: r["n"] for r in rows}


async def test_a_share_of_the_demo_buses_report_over_jt808(
    settings: Settings, pool: asyncpg.Pool, aiohttp_client: Any
) -> None:
    services = Services(settings=settings, pool=pool)
    options = Jt808Options(share=5, heartbeat_s=0.2)
    demo = await build_demo_app(services, DemoOptions(speed=60.0, start=TUESDAY_8, jt808=options),
                                components=COMPONENTS, hooks=())
    client = await aiohttp_client(demo.app)
    server = services.extras["jt808"]
    index = services.schedule.get()

    # the day's JT/T 808 buses: every fifth bus, and the banner says how many and where
    roster, today = plan_roster(index, demo.start_ts, 5)
    assert today >= 40 and len(roster) == len([t for t in roster if reports_over_jt808(t.vehicle_id, 5)])
    assert today // 6 <= len(roster) <= today // 4
    text = banner(demo, settings)
    assert f"JT/T 808 terminals: tcp://127.0.0.1:{server.port}" in text
    assert f"{len(roster)} of the day's {today} demo buses report here as JT/T 808 terminals (one bus in 5" in text

    # every one is in the registry at start: phone → vehicle, plate, default line
    async def registered() -> list[asyncpg.Record]:
        rows = await pool.fetch("SELECT * FROM jt808_terminals ORDER BY vehicle_id")
        return rows if len(rows) >= len(roster) else []

    rows = await wait_until("the roster in the registry", registered, 30.0)
    assert [(r["phone"], r["vehicle_id"], r["plate"], r["route_id"]) for r in rows] == \
        sorted([(t.phone, t.vehicle_id, t.plate, t.route_id) for t in roster], key=lambda t: t[1])
    assert all(PHONE.match(r["phone"]) and PLATE.match(r["plate"]) for r in rows)
    assert len({r["phone"] for r in rows}) == len(rows) and len({r["plate"] for r in rows}) == len(rows)
    assert {r["route_id"] for r in rows} <= set(index.route_ids)
    line_of = {r["vehicle_id"]: r["route_id"] for r in rows}
    plate_of = {r["vehicle_id"]: r["plate"] for r in rows}

    # their positions come in over TCP
    async def reporting() -> dict[str, int]:
        counts = await jt808_counts(pool)
        return counts if len([n for n in counts.values() if n >= 5]) >= min(5, len(roster)) else {}

    counts = await wait_until("JT/T 808 positions", reporting)
    assert set(counts) <= set(line_of)
    stored = await pool.fetch(
        "SELECT vehicle_id, trip_id, block_id, route_id, label, odometer_m, speed_mps FROM positions "
        "WHERE source = 'jt808'")
    assert all(r["trip_id"] is None and r["block_id"] is None for r in stored)  # JT/T 808 carries no trip
    assert all(r["route_id"] == line_of[r["vehicle_id"]] for r in stored)
    assert all(r["label"] == plate_of[r["vehicle_id"]] for r in stored)
    assert all(r["odometer_m"] is not None and r["odometer_m"] > 1_000_000 for r in stored)
    assert any(r["speed_mps"] > 3 for r in stored)
    # the other buses still report in-process, and never the JT/T 808 ones
    others = await pool.fetch("SELECT DISTINCT vehicle_id FROM positions WHERE source = 'demo'")
    assert len(others) >= 20 and not any(reports_over_jt808(r["vehicle_id"], 5) for r in others)

    # the registry shows them registered, authenticated and connected now
    resp = await client.get("/api/v1/admin/terminals", headers=admin_headers())
    assert resp.status == 200
    listed = {t["vehicle_id"]: t for t in (await resp.json())["terminals"]}
    for vehicle_id in counts:
        t = listed[vehicle_id]
        assert t["registration"] is not None and t["registration"]["plate"] == plate_of[vehicle_id].replace("·", "")
        assert t["authenticated_at"] is not None
        assert t["connection"] is not None and t["connection"]["vehicle_id"] == vehicle_id
    editions = {listed[v]["registration"]["edition"] for v in counts}
    assert editions == {2013, 2019}
    for msg_id in ("0x0100", "0x0102", "0x0200", "0x0002"):
        assert await metric(client, "transit_jt808_messages_total", msg_id=msg_id) > 0, msg_id
    assert await metric(client, "transit_rejections_total", source="jt808") == 0

    # the platform drops every connection: the terminals reconnect, keep what was not yet
    # acknowledged, and upload what piled up meanwhile as a backlog batch
    fleet: Jt808Fleet = services.extras["demo_jt808"]
    before = fleet.statistics()
    dropped = [b for b in fleet.terminals.values() if server.drop_terminal(b.terminal.phone)]
    assert len(dropped) >= 5

    async def reconnected() -> bool:
        now = fleet.statistics()
        return now.get("links_lost", 0) >= before.get("links_lost", 0) + len(dropped) \
            and now["connections"] >= before["connections"] + len(dropped) and now.get("backlog_batches", 0) > 0

    await wait_until("reconnections", reconnected, 30.0)
    assert await metric(client, "transit_jt808_messages_total", msg_id="0x0704") > 0

    # nothing lost: up to a point every terminal has delivered, the stored positions are exactly
    # the simulator's for those buses (replayed from the same seed and start)
    sim: Simulator = services.extras["simulator"]

    async def simulated_15_minutes() -> bool:
        return sim.now > sim.start_ts + 900.0

    await wait_until("15 simulated minutes", simulated_15_minutes)
    until = sim.now - 120.0  # what the simulator made up to here is handed over to the terminals

    async def delivered() -> bool:
        oldest = [b.find_oldest_undelivered_ts() for b in fleet.terminals.values()]
        return all(ts is None or ts > until for ts in oldest)

    await wait_until("the terminals to deliver", delivered, 30.0)
    replay = Simulator(index, seed=sim.seed, start_ts=sim.start_ts, vehicle_prefix=sim.prefix, source="demo")
    expected = {(f.vehicle_id, f.ts): (f.lat, f.lon) for f in replay.advance(until)
                if reports_over_jt808(f.vehicle_id, 5)}
    got = {(r["vehicle_id"], r["ts"]): (r["lat"], r["lon"]) for r in await pool.fetch(
        "SELECT vehicle_id, extract(epoch FROM ts)::float8 AS ts, lat, lon FROM positions "
        "WHERE source = 'jt808' AND ts <= to_timestamp($1)", until)}
    assert len(expected) > 100
    assert got.keys() == expected.keys()
    assert all(abs(got[k][0] - v[0]) < 1e-9 and abs(got[k][1] - v[1]) < 1e-9 for k, v in expected.items())
    backlog = await pool.fetchval("SELECT count(*) FROM positions WHERE source = 'jt808' AND NOT live")
    assert backlog > 0  # the backlog is stored, kept out of live tracking
    assert fleet.statistics().get("refused", 0) == 0


async def test_a_terminal_heartbeats_parks_and_comes_back_with_its_code(
    settings: Settings, pool: asyncpg.Pool, aiohttp_client: Any
) -> None:
    start = dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    clock = ManualClock(start)
    services = Services(settings=settings, pool=pool, clock=clock)
    client = await aiohttp_client(create_app(services, COMPONENTS))
    server = services.extras["jt808"]
    fleet = Jt808Fleet(services.extras["jt808_registry"], clock, "127.0.0.1", server.port,
                       Jt808Options(share=5, heartbeat_s=0.1, park_after_s=300.0))

    def fixes(first_s: int, count: int) -> list[Fix]:
        return [Fix("zq-0005", start + t, 36.71 + 0.0004 * t / 10, 117.54, speed_mps=8.0, bearing_deg=0.0,
                    route_id="1", source="demo") for t in range(first_s, first_s + 10 * count, 10)]

    async def stored(n: int) -> bool:
        return await pool.fetchval("SELECT count(*) FROM positions WHERE vehicle_id = 'zq-0005'") == n

    try:
        fleet.note("zq-0005", "1")
        clock.advance(60)
        assert (await fleet.submit(fixes(0, 5), "demo")).stored == 5
        await wait_until("five positions", lambda: stored(5), 15.0)
        bus = fleet.terminals["zq-0005"]
        row = await pool.fetchrow("SELECT * FROM jt808_terminals WHERE vehicle_id = 'zq-0005'")
        assert (row["phone"], row["plate"], row["route_id"]) == ("13953000005", "鲁A·00005D", "1")
        assert row["registered_at"] is not None and row["authenticated_at"] is not None

        async def heartbeats() -> bool:
            return await metric(client, "transit_jt808_messages_total", msg_id="0x0002") >= 2

        await wait_until("heartbeats while the bus has nothing to report", heartbeats, 15.0)
        assert bus.connected and server.find_session("13953000005") is not None

        clock.advance(400)  # no position for more than park_after_s: the bus is parked, its terminal goes

        async def parked() -> bool:
            return not bus.connected and server.find_session("13953000005") is None

        await wait_until("the parked bus to disconnect", parked, 15.0)
        first_auth = row["authenticated_at"]
        clock.advance(60)
        await fleet.submit(fixes(500, 1), "demo")
        await wait_until("the position after the break", lambda: stored(6), 15.0)
        # back on the road: authenticated again with the code it was issued, not registered again
        assert await metric(client, "transit_jt808_messages_total", msg_id="0x0100") == 1
        assert await metric(client, "transit_jt808_messages_total", msg_id="0x0102") == 2
        again = await pool.fetchval("SELECT authenticated_at FROM jt808_terminals WHERE vehicle_id = 'zq-0005'")
        assert again > first_auth
        stats = fleet.statistics()["buses"]["zq-0005"]
        assert stats["parked"] == 1 and stats["connections"] == 2 and stats["acknowledged"] == 6
        odometer = [r["odometer_m"] for r in await pool.fetch(
            "SELECT odometer_m FROM positions WHERE vehicle_id = 'zq-0005' ORDER BY ts")]
        assert odometer == sorted(odometer) and odometer[-1] - odometer[0] > 100  # the bus's mileage grows
    finally:
        await fleet.close()


async def test_no_jt808_buses_without_the_server_or_with_a_share_of_0(
    settings: Settings, pool: asyncpg.Pool, aiohttp_client: Any
) -> None:
    services = Services(settings=settings, pool=pool)
    components = ("transit.app.health:setup", "feeds.gps.component:setup")  # no JT/T 808 server
    demo = await build_demo_app(services, DemoOptions(speed=60.0, start=TUESDAY_8), components=components, hooks=())
    await aiohttp_client(demo.app)

    async def reporting() -> int:
        return await pool.fetchval("SELECT count(DISTINCT vehicle_id) FROM positions WHERE source = 'demo'") >= 20

    await wait_until("demo positions", reporting)
    # the buses that would have had a terminal report in-process like the rest
    vehicles = [r["vehicle_id"] for r in await pool.fetch("SELECT DISTINCT vehicle_id FROM positions")]
    assert any(reports_over_jt808(v, 5) for v in vehicles)
    assert await pool.fetchval("SELECT count(*) FROM jt808_terminals") == 0
    assert "report here as JT/T 808 terminals" not in banner(demo, settings)

    services = Services(settings=settings, pool=pool)
    demo = await build_demo_app(services, DemoOptions(start=TUESDAY_8, jt808=Jt808Options(share=0)),
                                components=COMPONENTS, hooks=())
    assert demo.jt808_buses == 0 and "report here as JT/T 808 terminals" not in banner(demo, settings)


def test_the_command_refuses_a_negative_share(capsys: Any) -> None:
    assert main(["demo", "--jt808-share", "-1"]) == 2
    assert "--jt808-share must be 0 (none) or more" in capsys.readouterr().err
