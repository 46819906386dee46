"""Reading what the indicators are computed from: served trips, board uptime, signal coverage,
fare roll-ups and the urban stops.  The only module of the reports that does I/O.

Boards and signals are other packages of this service; when one is not installed in a
deployment, its indicators say so instead of failing the whole report.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np

from feeds.fares.store import list_daily
from transit.reports.indicators_payment import Boardings
from transit.reports.indicators_transit import BoardUptime, StopArea
from transit.reports.line_service import count_line_service, route_name
from transit.reports.period import Period
from transit.reports.report import ReportInputs, ReportRules
from transit.reports.urban import Boundary, classify_stops
from transit.reports.urban_store import BoundaryFile, get_boundary, list_flags
from transit.schedule.index import ScheduleIndex
from transit.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ReportSource:
    """Where a report reads from: the database, the settings and the schedule in force."""

    pool: asyncpg.Pool
    settings: Settings
    index: ScheduleIndex | None
    boundary_file: BoundaryFile | None = field(default=None)

    def __post_init__(self) -> None:
        if self.boundary_file is None:
            self.boundary_file = BoundaryFile(self.settings.reports.urban_boundary)

    @property
    def rules(self) -> ReportRules:
        s = self.settings
        return ReportRules(s.reports.realtime_trip_share, s.reports.board_online_share,
                           tuple(s.fares.electronic_channels))


async def served_groups(pool: asyncpg.Pool, date_from: dt.date, date_to: dt.date) -> list[tuple[str, str, list[int]]]:
    """Per served (trip_id, start_time), the day offsets it was served on.  Up to 63 days the days
    travel as one bit mask per trip (a month of a large district is some 600,000 rows; its
    masks are 20,000 numbers)."""
    if (date_to - date_from).days < 63:
        rows = await pool.fetch(
            "SELECT trip_id, start_time, bit_or(1::bigint << (service_date - $1::date)) AS mask FROM served_trips "
            "WHERE service_date BETWEEN $1 AND $2 GROUP BY trip_id, start_time", date_from, date_to,
        )
        if not rows:
            return []
        masks = np.array([r["mask"] for r in rows], dtype=np.int64)
        bits = (masks[:, None] >> np.arange(63, dtype=np.int64)) & 1
        group, day = np.nonzero(bits)
        split = np.split(day, np.flatnonzero(np.diff(group)) + 1)
        present = np.unique(group)
        days = {int(g): d.tolist() for g, d in zip(present, split, strict=True)}
        return [(r["trip_id"], r["start_time"], days.get(i, [])) for i, r in enumerate(rows)]
    rows = await pool.fetch(
        "SELECT trip_id, start_time, array_agg(service_date - $1::date) AS days FROM served_trips "
        "WHERE service_date BETWEEN $1 AND $2 GROUP BY trip_id, start_time", date_from, date_to,
    )
    return [(r["trip_id"], r["start_time"], r["days"]) for r in rows]


async def urban_stops(source: ReportSource) -> tuple[list[StopArea], Boundary | None, str]:
    index = source.index
    assert source.boundary_file is not None
    boundary, origin = await get_boundary(source.pool, source.boundary_file)
    if index is None:
        return [], boundary, origin
    flags = await list_flags(source.pool)
    stops = classify_stops(index.stop_ids, index.stop_name, index.stop_lat, index.stop_lon, boundary, flags)
    return stops, boundary, origin


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def board_uptimes(pool: asyncpg.Pool, period: Period) -> tuple[list[BoardUptime] | None, str]:
    """Boards in service and their uptime over the period (None when there is no board registry);
    a board registered after the period has ``online_share`` None."""
    try:
        from display.health import online_shares
        from display.registry import list_boards
    except ImportError as exc:
        return None, f"电子站牌模块未安装 the board registry (display) is not available: {exc}"
    boards = await _maybe_await(list_boards(pool))
    shares: dict[str, float] = {}
    if period.measured_to_ts > period.from_ts:
        shares = await _maybe_await(online_shares(pool, period.from_ts, period.measured_to_ts))
    out = [BoardUptime(str(b.board_id), tuple(str(s) for s in (b.stop_ids or ())),
                       shares.get(b.board_id), str(getattr(b, "location", "") or ""))
           for b in boards]
    return out, ""


async def signal_ratios(pool: asyncpg.Pool, settings: Settings, period: Period) -> tuple[Any, Any, str]:
    try:
        from signals.coverage import ratios
    except ImportError as exc:
        return None, None, f"信号模块未安装 the signals package is not available: {exc}"
    today = dt.datetime.fromtimestamp(period.now, period.tz).date()
    date_to = min(period.date_to, today)
    result = await _maybe_await(ratios(pool, period.date_from, date_to, settings, now=period.now))
    return result.realtime_timing, result.epolice, ""


async def gather_inputs(source: ReportSource, period: Period, timings: dict[str, float] | None = None
                        ) -> ReportInputs:
    """Everything a report of ``period`` needs; ``timings`` receives the seconds each part took."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    index = source.index
    pool = source.pool
    lines = []
    recorded = True
    route_names: dict[str, str] = {}
    short_names: dict[str, str] = {}
    feed = None
    if index is not None:
        groups = await served_groups(pool, period.date_from, period.date_to)
        recorded = bool(groups)
        lines = count_line_service(index, period.date_from, period.date_to, period.now, groups)
        route_names = {index.route_ids[r]: route_name(index, r) for r in range(len(index.route_ids))}
        short_names = {index.route_ids[r]: index.route_short_name[r] or "" for r in range(len(index.route_ids))}
        feed = {"feed_id": index.feed_id, "agency": index.agency_name, "lines": len(index.route_ids),
                "stops": len(index.stop_ids)}
    lap("served_trips")
    stops, _, _ = await urban_stops(source)
    lap("urban_stops")
    boards, boards_missing = await board_uptimes(pool, period)
    lap("boards")
    timing, epolice, signals_missing = await signal_ratios(pool, source.settings, period)
    lap("signals")
    daily = await list_daily(pool, period.date_from, period.date_to)
    boardings = [Boardings(r.service_date, r.route_id, r.channel, r.boardings) for r in daily]
    lap("fares")
    registered = not boards or any(b.online_share is not None for b in boards)
    return ReportInputs(lines=lines, stops=stops, boards=boards, boards_missing=boards_missing,
                        served_recorded=recorded, boards_registered=registered,
                        signal_timing=timing, epolice=epolice, signals_missing=signals_missing,
                        boardings=boardings, route_names=route_names, short_names=short_names, feed=feed)
