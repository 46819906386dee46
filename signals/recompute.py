"""Keeping the coverage log up to date: recompute the intersection-days whose inputs changed
(the durable ``signal_dirty_days`` queue), today's rows as the day goes on, or any date range.

One process at a time works the queue (a PostgreSQL advisory lock), so the background worker, a
reader that wants fresh rows and a CLI run can overlap safely.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from signals.coverage_day import compute_controller_day, day_window
from signals.coverage_intersection import IntersectionDay, combine_intersection_day
from signals.intersections import Intersection
from signals.log_store import load_camera_days, load_events, load_status, save_day
from signals.registry import find_intersection, list_intersections
from transit.settings import Settings

_LOCK_KEY = 0x7369676E  # "sign"


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    days: int
    seconds: float = 0.0


def today(settings: Settings, now: float) -> dt.date:
    return dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(settings.timezone)).date()


async def compute_day(conn: asyncpg.Connection, item: Intersection, day: dt.date, settings: Settings,
                      now: float) -> IntersectionDay:
    win = day_window(day, settings.timezone, settings.signals, now)
    controller_days = []
    for controller in item.controller_ids:
        msgs = await load_status(conn, controller, win.day_start, win.day_end)
        events = await load_events(conn, controller, win.day_start, win.day_end)
        controller_days.append(compute_controller_day(controller, win, msgs, events, settings.signals,
                                                      settings.timezone))
    cameras = await load_camera_days(conn, item.camera_ids, day)
    return combine_intersection_day(item.intersection_id, win, controller_days, item.camera_ids, cameras,
                                    settings.signals)


async def recompute_days(conn: asyncpg.Connection, item: Intersection, days: Iterable[dt.date],
                         settings: Settings, now: float) -> int:
    """Recompute and store the given days of one intersection (future days are skipped)."""
    last = today(settings, now)
    done = 0
    for day in sorted(set(days)):
        if day > last:
            continue
        await save_day(conn, await compute_day(conn, item, day, settings, now))
        done += 1
    return done


@contextlib.asynccontextmanager
async def _locked(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            yield conn
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def process_dirty(pool: asyncpg.Pool, settings: Settings, now: float, batch: int = 500,
                        date_from: dt.date | None = None, date_to: dt.date | None = None) -> int:
    """Work the dirty queue (only the days in [date_from, date_to] when given) until it is empty;
    returns the number of days recomputed."""
    done = 0
    lo, hi = date_from or dt.date.min, date_to or dt.date.max
    async with _locked(pool) as conn:
        while True:
            marks = await conn.fetch(
                "SELECT intersection_id, day, marked_at FROM signal_dirty_days WHERE day BETWEEN $2 AND $3 "
                "ORDER BY intersection_id, day LIMIT $1", batch, lo, hi)
            if not marks:
                break
            by_id: dict[str, list[asyncpg.Record]] = {}
            for mark in marks:
                by_id.setdefault(mark["intersection_id"], []).append(mark)
            for intersection_id, rows in by_id.items():
                item = await find_intersection(conn, intersection_id)
                if item is not None:
                    done += await recompute_days(conn, item, [r["day"] for r in rows], settings, now)
                await conn.execute(
                    "DELETE FROM signal_dirty_days d USING unnest($2::date[], $3::timestamptz[]) AS m(day, at) "
                    "WHERE d.intersection_id = $1 AND d.day = m.day AND d.marked_at <= m.at",
                    intersection_id, [r["day"] for r in rows], [r["marked_at"] for r in rows])
    return done


async def refresh_recent(pool: asyncpg.Pool, settings: Settings, now: float, max_age_s: float = 60.0,
                         intersections: Sequence[Intersection] | None = None) -> int:
    """Recompute today's row of every intersection (older than ``max_age_s``), and any earlier row
    still marked partial: silence changes a day's figures even when no data arrives."""
    day = today(settings, now)
    items = list(intersections) if intersections is not None else await list_intersections(pool)
    done = 0
    async with _locked(pool) as conn:
        fresh = {r["intersection_id"] for r in await conn.fetch(
            "SELECT intersection_id FROM signal_coverage_days WHERE day = $1 AND NOT (partial AND "
            "computed_at < now() - make_interval(secs => $2))", day, max_age_s)}
        stale = await conn.fetch("SELECT intersection_id, day FROM signal_coverage_days WHERE partial AND day < $1",
                                 day)
        by_id: dict[str, list[dt.date]] = {}
        for r in stale:
            by_id.setdefault(r["intersection_id"], []).append(r["day"])
        for item in items:
            days = list(by_id.get(item.intersection_id, []))
            if item.intersection_id not in fresh and (item.in_service_from is None or item.in_service_from <= day):
                days.append(day)
            if days:
                done += await recompute_days(conn, item, days, settings, now)
    return done


async def recompute_range(pool: asyncpg.Pool, date_from: dt.date, date_to: dt.date, settings: Settings,
                          now: float, intersection_ids: Sequence[str] | None = None) -> int:
    """Recompute every day of the range for the intersections (all when None), creating rows for
    days without data too, so the log shows them."""
    if date_to < date_from:
        raise ValueError(f"the range ends ({date_to}) before it starts ({date_from})")
    items = await list_intersections(pool)
    if intersection_ids is not None:
        wanted = set(intersection_ids)
        items = [i for i in items if i.intersection_id in wanted]
    days = [date_from + dt.timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    done = 0
    async with _locked(pool) as conn:
        for item in items:
            start = [d for d in days if item.in_service_from is None or d >= item.in_service_from]
            done += await recompute_days(conn, item, start, settings, now)
    return done
