"""The demo's intersections: each simulated case lands in the coverage log and the ratios as it
should, and the log fills as the simulated clock runs."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

import signals.demo as demo
from signals.coverage import ratios
from signals.log_store import list_days
from signals.recompute import process_dirty
from signals.registry import list_intersections, upsert_intersections
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.settings import Settings

TZ = Settings().tz
DAYS = (dt.date(2026, 3, 2), dt.date(2026, 3, 3))
LATER = dt.datetime(2026, 3, 20, tzinfo=TZ).timestamp()


def test_sites_lie_round_mingshui_old_town() -> None:
    for site in demo.SITES:
        assert 36.70 <= site.intersection.lat <= 36.73 and 117.52 <= site.intersection.lon <= 117.55
    assert len({s.intersection.intersection_id for s in demo.SITES}) == len(demo.SITES)


async def test_each_case_lands_in_the_log_and_ratios(pool, settings: Settings) -> None:
    services = Services(settings=settings, pool=pool)
    await upsert_intersections(pool, [(i, s.intersection) for i, s in enumerate(demo.SITES)])
    feeder = demo.DemoFeeder(services)
    lo = dt.datetime.combine(DAYS[0], dt.time(0), TZ).timestamp()
    assert await feeder.feed(lo, lo + 2 * 86400) > 0
    await process_dirty(pool, settings, LATER)
    days = {d["intersection_id"]: d for d in await list_days(pool, DAYS[1], DAYS[1])}
    for ident in ("MS-01", "MS-02", "MS-03", "MS-07", "MS-08"):
        assert days[ident]["realtime"], (ident, days[ident]["reason"])
    assert days["MS-03"]["events"] > 5000 and days["MS-03"]["gap_outs"] > 100  # the Indiana-only controller
    assert days["MS-03"]["plan_changes"] == 4
    assert days["MS-04"]["reason_code"] == "not_realtime_mode"
    assert days["MS-05"]["reason_code"] == "offline" and days["MS-05"]["online_min"] == pytest.approx(660, abs=3)
    assert days["MS-06"]["reason_code"] == "flash" and days["MS-06"]["flash_min"] == pytest.approx(480, abs=3)
    assert days["MS-01"]["flash_min"] == 0  # the night flash lies outside the operating hours
    assert days["MS-07"]["cameras"]["EP-0701"]["reported"] is False
    assert days["MS-03"]["cameras"]["EP-0301"]["captures"] > 1000
    result = await ratios(pool, DAYS[0], DAYS[1], settings, now=LATER)
    assert (result.realtime_timing.numerator, result.realtime_timing.denominator) == (5, 8)
    assert {s.intersection_id for s in result.realtime_timing.not_counted} == {"MS-04", "MS-05", "MS-06"}
    assert (result.epolice.numerator, result.epolice.denominator) == (7, 8)
    assert [s.intersection_id for s in result.epolice.not_counted] == ["MS-07"]


async def test_the_log_fills_as_the_demo_runs(pool, settings: Settings, monkeypatch) -> None:
    monkeypatch.setattr(demo, "TICK_S", 0.05)
    clock = ManualClock(dt.datetime(2026, 3, 4, 9, 0, tzinfo=TZ).timestamp())
    services = Services(settings=settings, pool=pool, clock=clock)
    fed: asyncio.Queue[float] = asyncio.Queue()

    async def status_today() -> int:
        return await pool.fetchval("SELECT count(*) FROM signal_status WHERE ts >= $1",
                                   dt.datetime(2026, 3, 4, tzinfo=TZ))

    task = asyncio.create_task(demo.run_demo(services, fill_from=dt.date(2026, 3, 3), fed=fed))
    try:
        assert await asyncio.wait_for(fed.get(), 120) == clock.now()
        first = await status_today()
        assert first > 0 and len(await list_intersections(pool)) == len(demo.SITES)
        clock.advance(1800)
        while await asyncio.wait_for(fed.get(), 30) < clock.now():
            pass
        assert await status_today() > first
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await process_dirty(pool, settings, clock.now())
    today = {d["intersection_id"]: d for d in await list_days(pool, dt.date(2026, 3, 4), dt.date(2026, 3, 4))}
    assert today["MS-01"]["partial"] and today["MS-01"]["operating_min"] == pytest.approx(210, abs=1)
    assert today["MS-01"]["realtime"], today["MS-01"]["reason"]
    assert today["MS-05"]["realtime"]  # not off line before 10:30
    # a restart on the same database stores nothing twice
    beats = await pool.fetchval("SELECT sum(heartbeats) FROM camera_days")
    statuses = await pool.fetchval("SELECT count(*) FROM signal_status")
    fed = asyncio.Queue()
    task = asyncio.create_task(demo.run_demo(services, fill_from=dt.date(2026, 3, 3), fed=fed))
    try:
        await asyncio.wait_for(fed.get(), 120)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await pool.fetchval("SELECT sum(heartbeats) FROM camera_days") == beats
    assert await pool.fetchval("SELECT count(*) FROM signal_status") == statuses
