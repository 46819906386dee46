"""Demo: an urban boundary for the demo network, a history of served trips, and the link to the
bureau dashboard.

The demo network lies in Mingshui; its core is taken as the urban area: an octagon round the
median stop holding about three quarters of the stops, so the map shows urban stops with and
without boards and a ring of non-urban ones.  A boundary already configured (setting, stored, or
stops flagged by hand) is left alone.

The demo's fares go back two months; so does its record of served real-time predictions, as if
the service had been running: most lines nearly every trip, the tourist shuttle (frequency
based) with days lost to a tracker outage, so that indicator 2a has a line that does not count.
Only days before today are written, and only into an empty table; today comes from the tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import AsyncIterator

import numpy as np
from aiohttp import web

from transit.app.services import Services
from transit.schedule.index import ScheduleIndex

log = logging.getLogger(__name__)


def demo_boundary(index: ScheduleIndex, share: float = 0.75) -> dict[str, object]:
    lat0, lon0 = float(np.median(index.stop_lat)), float(np.median(index.stop_lon))
    kx = math.cos(math.radians(lat0))
    dist = np.hypot((index.stop_lon - lon0) * kx, index.stop_lat - lat0)
    radius = float(np.quantile(dist, share)) * 1.02
    ring = [[round(lon0 + radius * math.cos(a) / kx, 6), round(lat0 + radius * math.sin(a), 6)]
            for a in (2 * math.pi * (k + 0.5) / 8 for k in range(8))]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


async def _install_boundary(services: Services) -> None:
    import json

    from transit.reports.urban_store import put_boundary

    while (index := services.schedule.current()) is None:
        await services.clock.sleep(1.0)
    if services.settings.reports.urban_boundary:
        return
    pool = services.pool
    has = await pool.fetchval("SELECT EXISTS (SELECT 1 FROM urban_boundary) OR EXISTS (SELECT 1 FROM urban_stop_flags)")
    if not has and len(index.stop_ids) >= 3:
        await put_boundary(pool, json.dumps(demo_boundary(index)), "demo")
        log.info("demo: urban boundary set round the network's centre")


def served_history(index: ScheduleIndex, days: list[dt.date], seed: int = 8) -> list[tuple[dt.date, str, str, str]]:
    """(service_date, trip_id, start_time, route_id) of the instances "served" on ``days``."""
    from transit.schedule.service import format_gtfs_time
    from transit.schedule.timetable import frequency_offsets

    rng = np.random.default_rng(seed)
    has_freq = np.diff(index.trip_freq_start) > 0
    weak = {int(r) for r in np.unique(index.trip_route[has_freq])} or {len(index.route_ids) - 1}
    rows: list[tuple[dt.date, str, str, str]] = []
    for day in days:
        outage = rng.random() < 0.25  # a day the weak line's tracking was down
        for trip in np.flatnonzero(index.trips_running_on(day)):
            route = int(index.trip_route[trip])
            keep = 0.985 if route not in weak else (0.0 if outage else 0.97)
            starts = ([format_gtfs_time(int(index.trip_first_dep_s[trip]) + int(o))
                       for o in frequency_offsets(index, int(trip))] if has_freq[trip] else [""])
            rows += [(day, index.trip_ids[trip], st, index.route_ids[route]) for st in starts if rng.random() < keep]
    return rows


async def _install_history(services: Services, index: ScheduleIndex) -> None:
    pool = services.pool
    today = dt.datetime.fromtimestamp(services.clock.now(), services.settings.tz).date()
    if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM served_trips WHERE service_date < $1)", today):
        return
    first = (today.replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    days = [first + dt.timedelta(days=i) for i in range((today - first).days)]
    rows = await asyncio.to_thread(served_history, index, days)
    if not rows:
        return
    stamp = dt.datetime.fromtimestamp(services.clock.now(), dt.UTC)
    await pool.execute(
        "INSERT INTO served_trips (service_date, trip_id, start_time, route_id, feed_id, first_served_at, "
        "last_served_at) SELECT d, t, s, r, $5, $6, $6 FROM unnest($1::date[], $2::text[], $3::text[], $4::text[]) "
        "AS u(d, t, s, r) ON CONFLICT DO NOTHING",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], index.feed_id, stamp)
    log.info("demo: %d served trip instances written for %s .. %s", len(rows), days[0], days[-1])


async def _install(services: Services) -> None:
    await _install_boundary(services)
    index = services.schedule.current()
    if index is not None:
        await _install_history(services, index)


def setup_demo(app: web.Application, services: Services, notes: list[str]) -> None:
    async def boundary(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_install(services))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    app.cleanup_ctx.append(boundary)
    s = services.settings
    host = "127.0.0.1" if s.http.host in ("0.0.0.0", "::") else s.http.host
    token = s.reports.token or s.admin.token
    url = f"http://{host}:{s.http.port}/bureau"
    if s.reports.public:
        notes.append(f"交通运输局看板 Bureau dashboard: {url}")
    elif token:
        # The token goes in the fragment, which browsers never send: the page keeps it for the session.
        notes.append(f"交通运输局看板 Bureau dashboard: {url}#token={token}")
    else:
        notes.append(f"交通运输局看板 Bureau dashboard: {url} (set TRANSIT_REPORTS_TOKEN or "
                     f"TRANSIT_REPORTS_PUBLIC=true to read it)")
