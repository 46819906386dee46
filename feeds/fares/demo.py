"""Demo: a fare system for the demo network, so /bureau shows computed payment figures.

At start the last two months and this month so far are filled (the electronic share rising
month by month, as it does in a city moving riders to QR codes); then, every minute, today is
simulated again up to now and imported.  Each day is simulated from its own seed, so the same
boardings keep the same transaction ids: importing again only adds what is new, and a restart
of the demo on the same database changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

import numpy as np
from aiohttp import web

from feeds.fares.importer import decode, import_batch, limits_from
from feeds.fares.simulate import DEFAULT_MIX, simulate_fares, with_electronic_share
from transit.app.services import Services
from transit.schedule.index import ScheduleIndex

log = logging.getLogger(__name__)

BOARDINGS_PER_VEHICLE_DAY = 110
#: Electronic share by months back from the current one (0 = this month).
ELECTRONIC_SHARE = {0: 0.915, 1: 0.895, 2: 0.87}
TICK_S = 60.0


def demo_vehicles(index: ScheduleIndex) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(line -> vehicle ids, line -> stop ids): about one vehicle per dozen daily trips."""
    vehicles: dict[str, list[str]] = {}
    stops: dict[str, list[str]] = {}
    for r, route_id in enumerate(index.route_ids):
        trips = np.flatnonzero(index.trip_route == r)
        n = max(2, min(12, len(trips) // 12))
        vehicles[route_id] = [f"demo-{route_id}-{i + 1:02d}" for i in range(n)]
        rows = np.concatenate([np.arange(*index.trip_calls(int(t)).indices(len(index.st_trip))) for t in trips[:4]]) \
            if len(trips) else np.zeros(0, dtype=np.int64)
        stops[route_id] = sorted({index.stop_ids[int(s)] for s in index.st_stop[rows]})
    return vehicles, stops


def _months_back(day: dt.date, today: dt.date) -> int:
    return (today.year - day.year) * 12 + today.month - day.month


async def simulate_days(services: Services, index: ScheduleIndex, days: list[dt.date], now: float) -> int:
    vehicles, stops = demo_vehicles(index)
    today = dt.datetime.fromtimestamp(now, services.settings.tz).date()
    stored = 0
    for day in days:
        mix = with_electronic_share(DEFAULT_MIX, ELECTRONIC_SHARE.get(_months_back(day, today), 0.87))
        rng = np.random.default_rng(day.toordinal())
        export = await asyncio.to_thread(simulate_fares, rng, [day], vehicles, BOARDINGS_PER_VEHICLE_DAY,
                                         services.settings.timezone, mix, stops, now, "DEMO")
        limits = limits_from(services.settings, now)
        for data in (export.transactions_csv, export.aggregates_csv):
            batch = await asyncio.to_thread(decode, data, "csv", limits)
            result = await import_batch(services.pool, batch, "demo", services.registry)
            stored += result.inserted + result.aggregates if result else 0
    return stored


async def _wait_for_schedule(services: Services) -> ScheduleIndex:
    while (index := services.schedule.current()) is None:
        await services.clock.sleep(1.0)
    return index


async def run_fares(services: Services) -> None:
    index = await _wait_for_schedule(services)
    now = services.clock.now()
    today = dt.datetime.fromtimestamp(now, services.settings.tz).date()
    first = (today.replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    days = [first + dt.timedelta(days=i) for i in range((today - first).days + 1)]
    stored = await simulate_days(services, index, days, now)
    log.info("demo fares: %d days filled (%d rows)", len(days), stored)
    while True:
        await services.clock.sleep(TICK_S)
        now = services.clock.now()
        index = services.schedule.current() or index
        await simulate_days(services, index, [dt.datetime.fromtimestamp(now, services.settings.tz).date()], now)


def setup_demo(app: web.Application, services: Services, notes: list[str]) -> None:
    async def fares(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_guarded(services))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(fares)
    notes.append("票务模拟 Fares: simulated transactions (≈90% electronic) and cash fare-box totals, "
                 "from two months back, imported every minute")


async def _guarded(services: Services) -> None:
    try:
        await run_fares(services)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("demo fare simulation stopped")
