"""Demo: the key intersections round Mingshui old town (明水古城), with simulated controllers and
electronic-police cameras feeding the coverage log as the demo runs.

The sites show each case the bureau meets: adaptive and coordinated-adaptive controllers that
respond to demand (GA/T 1049.2 codes and GB/T 20999 running modes), an actuated controller that
only sends Indiana event logs, one running fixed-time all day, one that drops off line from 10:30
to 15:30, one that falls to yellow flash at 14:00, a dead camera, a camera that only sends daily
capture counts, and a branch-road junction that is not a key intersection.  Lamps flash at night
(00:00-05:30), as many Chinese junctions do, outside the operating hours.

At start the days from the first of the month two months back are filled (days already stored are skipped);
then every tick the simulated clock's new minutes are generated and stored through the same
decoders and stores as the ingest endpoints.  Every day is generated from its own seed, so a
restart on the same database adds nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import math
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from signals.cameras import decode_camera_json, roll_up
from signals.indiana import parse_event_log
from signals.intersections import Intersection
from signals.registry import upsert_intersections
from signals.status import decode_status
from signals.store import store_camera_days, store_events, store_status
from transit.app.services import Services

log = logging.getLogger(__name__)

TICK_S = 15.0
NIGHT_FLASH_END = 5.5  # hours
NIGHT_FLASH_START = 23.0


@dataclass(frozen=True, slots=True)
class Site:
    intersection: Intersection
    #: adaptive | fixed | offline_midday | flash_afternoon | actuated_events | none
    profile: str
    mode: dict[str, object] = field(default_factory=dict)  # {"ControlMode": "23"} or {"RunMode": "0x24"}
    #: camera id -> heartbeat | count | dead
    cameras: dict[str, str] = field(default_factory=dict)


def _site(ident: str, name: str, lat: float, lon: float, key: bool, profile: str, mode: dict[str, object],
          cameras: dict[str, str], town: str = "明水街道") -> Site:
    controllers = (f"ZQ-SIG-{ident[-2:]}",) if profile != "none" else ()
    return Site(Intersection(ident, name, lat, lon, town, key, controllers, tuple(cameras), dt.date(2020, 9, 1)),
                profile, mode, cameras)


SITES: tuple[Site, ...] = (
    _site("MS-01", "汇泉路与山泉路交叉口", 36.7161, 117.5362, True, "adaptive", {"ControlMode": "23"},
          {"EP-0101": "heartbeat", "EP-0102": "heartbeat"}),
    _site("MS-02", "绣水大街与明水路交叉口", 36.7118, 117.5297, True, "adaptive", {"ControlMode": "33"},
          {"EP-0201": "heartbeat"}),
    _site("MS-03", "百脉泉路与明水大街交叉口", 36.7089, 117.5331, True, "actuated_events", {},
          {"EP-0301": "count"}),
    _site("MS-04", "双山大街与汇泉路交叉口", 36.7213, 117.5446, True, "fixed", {"ControlMode": "21"},
          {"EP-0401": "heartbeat"}, town="双山街道"),
    _site("MS-05", "山泉路与唐王山路交叉口", 36.7232, 117.5368, True, "offline_midday", {"RunMode": "0x24"},
          {"EP-0501": "heartbeat"}),
    _site("MS-06", "世纪大道与绣水大街交叉口", 36.7045, 117.5251, True, "flash_afternoon", {"ControlMode": "23"},
          {"EP-0601": "heartbeat"}),
    _site("MS-07", "明水古城南门路口", 36.7063, 117.5389, True, "adaptive", {"RunMode": "0x14"},
          {"EP-0701": "dead", "EP-0702": "heartbeat"}),
    _site("MS-08", "福康路与铁道北路交叉口", 36.7274, 117.5205, True, "adaptive", {"ControlMode": "32"},
          {"EP-0801": "heartbeat"}),
    _site("MS-09", "古城东巷与廉坡街路口", 36.7102, 117.5423, False, "fixed", {"ControlMode": "21"}, {}),
)


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, parts)).encode()))


def demand(hour: float) -> float:
    """Traffic demand 0..1 over the day: morning and evening peaks, a midday shoulder."""
    peak = lambda centre, width: math.exp(-((hour - centre) / width) ** 2)  # noqa: E731
    return min(1.0, 0.08 + 0.85 * peak(7.7, 1.1) + 0.9 * peak(17.6, 1.3) + 0.35 * peak(12.2, 2.0))


def _iso(day_start: dt.datetime, seconds: float) -> str:
    return (day_start + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def status_day(site: Site, day: dt.date, tz: dt.tzinfo) -> list[tuple[float, dict[str, object]]]:
    """(seconds after midnight, GA/T 1049.2-style message) for one controller's day."""
    cross = site.intersection.controller_ids[0]
    start = dt.datetime.combine(day, dt.time(0), tz)
    rng = _rng(cross, day.toordinal())
    out: list[tuple[float, dict[str, object]]] = []

    def emit(t: float, kind: str, **fields: object) -> None:
        time_key = "StartTime" if kind == "CrossCycle" else "time"
        out.append((t, {"type": kind, "CrossID": cross, time_key: _iso(start, t), **fields}))

    def mode_at(hour: float) -> tuple[dict[str, object], int]:
        if hour < NIGHT_FLASH_END or hour >= NIGHT_FLASH_START:
            return {"ControlMode": "13"}, 0
        if site.profile == "flash_afternoon" and hour >= 14.0:
            return {"ControlMode": "13"}, 0
        plan = 1 if hour < 9 else 2 if hour < 16.5 else 3 if hour < 19.5 else 4
        return site.mode, plan

    emit(0.0, "CrossState", Value="Online")
    t, current, online = 0.0, None, True
    while t < 86400:
        hour = t / 3600
        if site.profile == "offline_midday" and 10.5 <= hour < 15.5:
            if online:
                emit(t, "CrossState", Value="Offline")
                online = False
            t = 15.5 * 3600
            continue
        if not online:
            emit(t, "CrossState", Value="Online")
            online, current = True, None
        mode, plan = mode_at(hour)
        if (mode, plan) != current:
            emit(t, "CrossModePlan", **mode, PlanNo=plan)
            current = (mode, plan)
        if mode.get("ControlMode") == "13":
            t += 120.0
            emit(t, "CrossState", Value="Online")  # still heard while flashing
            continue
        if site.profile == "fixed":
            length = 120.0
        else:
            length = round(float(64 + 86 * demand(hour) + rng.normal(0, 4)), 1)
        t += length
        emit(t, "CrossCycle", LastCycleLen=length)
    return [(s, m) for s, m in out if s < 86400]


def indiana_day(site: Site, day: dt.date) -> list[tuple[float, int, int]]:
    """(seconds after midnight, code, parameter): an actuated four-phase controller's day."""
    rng = _rng(site.intersection.controller_ids[0], day.toordinal(), "hires")
    rows: list[tuple[float, int, int]] = [(0.0, 131, 254), (NIGHT_FLASH_END * 3600 - 1, 173, 2)]
    rows.insert(1, (0.5, 173, 3))  # automatic (night) flash
    t = NIGHT_FLASH_END * 3600
    plan_changes = [(6.5, 1), (9.0, 2), (16.5, 3), (19.5, 4), (22.0, 254)]
    for hour, plan in plan_changes:
        rows.append((hour * 3600 + float(rng.uniform(0, 40)), 131, plan))
    while t < NIGHT_FLASH_START * 3600:
        d = demand(t / 3600)
        for phase, (min_g, max_g) in ((2, (18, 45)), (4, (7, 28)), (6, (18, 45)), (8, (7, 28))):
            green = min_g + (max_g - min_g) * d + float(rng.normal(0, 3))
            green = float(np.clip(green, min_g, max_g))
            rows.append((t, 1, phase))
            for _ in range(int(green * 0.15 * (0.5 + d))):  # some detector actuations during green
                rows.append((t + float(rng.uniform(0, green)), 82, phase))
            ended = 5 if green >= max_g - 0.5 else 4
            rows.append((t + green, ended, phase))
            rows.append((t + green, 8, phase))
            rows.append((t + green + 3.5, 10, phase))
            t += green + 5.0
    rows.append((NIGHT_FLASH_START * 3600, 173, 3))
    return sorted(rows)


def camera_day(camera: str, kind: str, day: dt.date, tz: dt.tzinfo) -> list[tuple[float, dict[str, object]]]:
    if kind == "dead":
        return []
    start = dt.datetime.combine(day, dt.time(0), tz)
    if kind == "count":
        captures = int(_rng(camera, day.toordinal()).normal(1400, 120))
        return [(86399.0, {"camera_id": camera, "date": day.isoformat(), "captures": captures})]
    return [(float(s), {"camera_id": camera, "time": _iso(start, s)}) for s in range(150, 86400, 300)]


class DemoFeeder:
    """Generates and stores what the sites report between two instants."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tz = services.settings.tz
        self._cache: dict[tuple[str, dt.date], list[Any]] = {}

    def _day(self, key: tuple[str, dt.date], make: Callable[[], list[Any]]) -> list[Any]:
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = make()
        return self._cache[key]

    async def feed(self, lo: float, hi: float, skip_stored: bool = False,
                   camera_since: dict[str, float] | None = None) -> int:
        """Store what every site reported in [lo, hi).  With ``skip_stored``, days a device already
        has in the database are left alone (the start-up fill after a restart); heartbeats of a
        camera at or before ``camera_since[camera]`` are not sent again."""
        s = self.services.settings
        stored = 0
        day = dt.datetime.fromtimestamp(lo, self.tz).date()
        last = dt.datetime.fromtimestamp(max(lo, hi - 1e-3), self.tz).date()
        have_ctl: set[tuple[str, dt.date]] = set()
        have_cam: set[tuple[str, dt.date]] = set()
        if skip_stored:
            have_ctl = {(r["controller_id"], r["day"]) for r in await self.services.pool.fetch(
                "SELECT controller_id, day FROM signal_controller_days WHERE day BETWEEN $1 AND $2", day, last)}
            have_cam = {(r["camera_id"], r["day"]) for r in await self.services.pool.fetch(
                "SELECT camera_id, day FROM camera_days WHERE day BETWEEN $1 AND $2", day, last)}
        while day <= last:
            midnight = dt.datetime.combine(day, dt.time(0), self.tz).timestamp()
            a, b = max(lo, midnight) - midnight, min(hi, midnight + 86400) - midnight
            for site in SITES:
                for cross in site.intersection.controller_ids:
                    if (cross, day) in have_ctl:
                        continue
                    if site.profile == "actuated_events":
                        rows = self._day((cross, day), functools.partial(indiana_day, site, day))
                        part = [r for r in rows if a <= r[0] < b]
                        if part:
                            start = dt.datetime.combine(day, dt.time(0))
                            text = "".join(f"{cross},{(start + dt.timedelta(seconds=t)):%m/%d/%Y %H:%M:%S.%f},"
                                           f"{code},{param}\n" for t, code, param in part)
                            parsed = parse_event_log(text.encode(), tz=s.timezone)
                            stored += (await store_events(self.services.pool, parsed, s.timezone)).stored
                    else:
                        msgs = self._day((cross, day), functools.partial(status_day, site, day, self.tz))
                        part = [m for t, m in msgs if a <= t < b]
                        if part:
                            decoded, _ = decode_status(part, tz=s.timezone, now=hi + 1)
                            stored += (await store_status(self.services.pool, decoded, s.timezone)).stored
                for cam, kind in site.cameras.items():
                    if (cam, day) in have_cam:
                        continue
                    since = (camera_since or {}).get(cam, -math.inf) - midnight
                    part = [m for t, m in camera_day(cam, kind, day, self.tz) if a <= t < b and t > since]
                    if part:
                        reports, _ = decode_camera_json(part, tz=s.timezone, now=hi + 1)
                        stored += (await store_camera_days(self.services.pool, roll_up(reports, s.timezone))).stored
            day += dt.timedelta(days=1)
        return stored


async def run_demo(services: Services, fill_from: dt.date | None = None,
                   fed: asyncio.Queue[float] | None = None) -> None:
    """Register the sites, fill the days from ``fill_from`` (default: the first of the month two
    months back, as the fares and served trips of the demo),
    then keep feeding as the clock runs; each instant fed up to is put on ``fed``."""
    await upsert_intersections(services.pool, [(i, site.intersection) for i, site in enumerate(SITES)])
    feeder = DemoFeeder(services)
    tz = services.settings.tz
    now = services.clock.now()
    today = dt.datetime.fromtimestamp(now, tz).date()
    first = fill_from or _months_before(today, 2)
    midnight = dt.datetime.combine(today, dt.time(0), tz).timestamp()
    stored = 0
    if first < today:
        stored += await feeder.feed(dt.datetime.combine(first, dt.time(0), tz).timestamp(), midnight,
                                    skip_stored=True)
    # today so far: statuses and event logs store once whatever the overlap; heartbeats resume after the last
    beats = {r["camera_id"]: r["last_ts"].timestamp() for r in await services.pool.fetch(
        "SELECT camera_id, last_ts FROM camera_days WHERE day = $1 AND last_ts IS NOT NULL", today)}
    stored += await feeder.feed(midnight, now, camera_since=beats)
    log.info("demo intersections: %d sites, filled from %s (%d rows)", len(SITES), first, stored)
    _poke(services)
    last = now
    if fed is not None:
        fed.put_nowait(now)
    while True:
        await asyncio.sleep(TICK_S)
        now = services.clock.now()
        if now > last:
            await feeder.feed(last, now)
            _poke(services)
            last = now
            if fed is not None:
                fed.put_nowait(now)


def _months_before(day: dt.date, months: int) -> dt.date:
    """The first of the month ``months`` before ``day``'s (the bureau's monthly trend has history)."""
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def _poke(services: Services) -> None:
    runtime = services.extras.get("signals")
    if runtime is not None:
        runtime.worker.poke()


async def _guarded(services: Services) -> None:
    try:
        await run_demo(services)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("demo intersection simulation stopped")


def setup_demo(app: web.Application, services: Services, notes: list[str]) -> None:
    async def intersections(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_guarded(services), name="demo-intersections")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(intersections)
    s = services.settings
    host = "127.0.0.1" if s.http.host in ("0.0.0.0", "::") else s.http.host
    key = sum(1 for site in SITES if site.intersection.is_key)
    notes.append(f"路口信号与电子警察 Intersections: {key} key intersections round 明水古城 with simulated "
                 "controllers (adaptive, actuated, fixed-time, one off line 10:30-15:30, one in flash from 14:00) "
                 "and cameras (one dead), from the first of the month two months back")
    notes.append(f"  ratios: http://{host}:{s.http.port}/api/v1/admin/signals/ratios?month="
                 f"{dt.datetime.fromtimestamp(services.clock.now(), s.tz):%Y-%m} (admin token)")
