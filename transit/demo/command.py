"""``transit demo``: the whole service on the bundled Zhangqiu network, with simulated buses.

It opens the database (an embedded PostgreSQL in the data directory unless a URL is set),
imports the demo network unless the active feed already is exactly that network, lets the other
parts set up their demo data (boards, intersections, fares: ``DEMO_HOOKS``), starts the normal
service with every default component, and drives buses through the real ingest pipeline.

The clock: at a time of day when buses run, the simulated clock is the real one (sped up by
``--speed``).  At night, when the timetable has no bus on the road, it starts at 08:00 of the
current day instead, so there is always something to see, and says so; ``--start`` picks any
time.  Everything in the service (ingest validation, tracking, predictions, boards, feeds) runs
on that same clock, so positions and predictions stay consistent with the timetable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from transit.app.components import DEFAULT_COMPONENTS
from transit.app.health import LINKS
from transit.app.services import Services, get_services
from transit.core.clock import Clock, ScaledClock, SystemClock
from transit.demo.feed import DemoFeed, ensure_demo_feed
from transit.demo.hooks import run_demo_hooks
from transit.demo.jt808_buses import Jt808Options
from transit.demo.jt808_roster import plan_roster
from transit.demo.runner import SimulationOptions, setup_simulation
from transit.schedule.index import ScheduleIndex
from transit.schedule.timetable import instances_between
from transit.settings import Settings

#: The stop used in the printed example URLs: 明水古城, called by three lines (twice by 2路).
EXAMPLE_STOP = "T05"
EXAMPLE_ROUTE = "1"
DAYTIME = dt.time(8, 0)


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="run the service on the bundled Zhangqiu demo network with simulated buses",
        description="Import the bundled Zhangqiu demo network (if the active feed is not already it), start "
        "the service with every component, and drive simulated buses through the real ingest path. "
        "Prints the URLs to open. Needs no setup: the database is an embedded PostgreSQL in the data "
        "directory unless TRANSIT_DATABASE_URL is set.",
    )
    p.add_argument("--port", type=int, help="HTTP port (TRANSIT_HTTP_PORT, default 8080)")
    p.add_argument("--host", help="HTTP bind address (TRANSIT_HTTP_HOST, default 127.0.0.1)")
    p.add_argument("--jt808-port", type=int, help="JT/T 808 TCP port (TRANSIT_JT808_PORT, default 6808)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="time-lapse factor: simulated seconds per real second (default 1)")
    p.add_argument("--vehicles", type=int, help="buses to simulate per day, spread over the lines (default: all)")
    p.add_argument("--seed", type=int, default=20, help="random seed of the simulation (default 20)")
    p.add_argument("--start", help="simulated start, HH:MM today or an ISO 8601 date-time "
                                   "(default: now, or 08:00 today when no bus runs now)")
    p.add_argument("--assignment", choices=("mixed", "trip", "block", "route", "none"), default="mixed",
                   help="what the buses report about their trip (default mixed: trip ids, block ids, "
                        "line only like JT/T 808 terminals, or nothing); the JT/T 808 buses report their line only")
    p.add_argument("--jt808-share", type=int, default=5, metavar="N",
                   help="every Nth bus reports through the JT/T 808 TCP port like a Chinese bus terminal "
                        "(registered in the terminal registry; register, authenticate, positions, heartbeats); "
                        "default 5, 0 for none")
    p.set_defaults(handler=demo)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    speed: float = 1.0
    vehicles: int | None = None
    seed: int = 20
    start: str | None = None
    assignment: str = "mixed"
    jt808: Jt808Options = field(default_factory=Jt808Options)


@dataclass
class DemoApp:
    app: web.Application
    feed: DemoFeed
    start_ts: float
    clock_note: str
    notes: list[str]
    #: Of the buses of the start's service day, how many report over JT/T 808.
    jt808_buses: int = 0
    buses_today: int = 0
    jt808_share: int = 0


def parse_start(text: str, index: ScheduleIndex, now: float) -> float:
    """``HH:MM`` (today in the feed's zone) or an ISO 8601 date-time (naive: the feed's zone)."""
    tz = index.tz
    try:
        clock = dt.time.fromisoformat(text)
    except ValueError:
        clock = None
    if clock is not None and len(text) <= 8:
        today = dt.datetime.fromtimestamp(now, tz).date()
        return dt.datetime.combine(today, clock, tz).timestamp()
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start {text!r} is neither HH:MM nor an ISO 8601 date-time") from None
    return (when if when.tzinfo else when.replace(tzinfo=tz)).timestamp()


def buses_running(index: ScheduleIndex, ts: float) -> int:
    return len(instances_between(index, ts, ts))


def choose_start(index: ScheduleIndex, now: float, start: str | None = None) -> tuple[float, str]:
    """The simulated start and a sentence saying why."""
    tz = index.tz
    if start is not None:
        ts = parse_start(start, index, now)
        return ts, f"simulated time starts at {_local(ts, index)} (--start)"
    if buses_running(index, now):
        return now, f"simulated time is the real time ({_local(now, index)})"
    today = dt.datetime.fromtimestamp(now, tz).date()
    for shift in (0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5, -6, 6, -7, 7):
        ts = dt.datetime.combine(today + dt.timedelta(days=shift), DAYTIME, tz).timestamp()
        if buses_running(index, ts):
            return ts, (f"no bus runs at {_local(now, index)}, so simulated time starts at {_local(ts, index)} "
                        f"and runs on from there")
    raise RuntimeError("the demo network has no service within a week of today")


def _local(ts: float, index: ScheduleIndex) -> str:
    return dt.datetime.fromtimestamp(ts, index.tz).strftime("%Y-%m-%d %H:%M %Z (%a)")


def make_clock(start_ts: float, speed: float, now: float) -> Clock:
    if speed <= 0:
        raise ValueError("--speed must be positive")
    if speed == 1.0 and abs(start_ts - now) < 1.0:
        return SystemClock()
    return ScaledClock(start_ts, speed)


async def build_demo_app(
    services: Services, options: DemoOptions, *, components: Iterable[str] = DEFAULT_COMPONENTS,
    hooks: tuple[str, ...] | None = None, now: float | None = None,
) -> DemoApp:
    """Everything ``transit demo`` does before serving; tests run the returned app in-process."""
    from transit.app.server import create_app

    feed = await ensure_demo_feed(services.pool, services.settings.data_dir)
    await services.schedule.reload(services.pool, feed.feed_id)
    index = services.schedule.get()
    wall = time.time() if now is None else now
    start_ts, clock_note = choose_start(index, wall, options.start)
    services.clock = make_clock(start_ts, options.speed, wall)
    if options.speed != 1.0:
        clock_note += f", {options.speed:g}× faster than real time"
    app = create_app(services, components)
    notes: list[str] = []
    run_demo_hooks(app, services, notes, hooks)
    step_s = max(1.0, 0.5 * options.speed)
    http = services.settings.http
    base_url = f"http://{_client_host(http.host)}:{http.port}" if http.port else None
    setup_simulation(app, services, SimulationOptions(
        seed=options.seed, vehicles=options.vehicles, assignment=options.assignment, step_s=step_s,
        http_base_url=base_url, jt808=options.jt808,
    ))
    roster, today = plan_roster(index, start_ts, options.jt808.share, vehicles=options.vehicles) \
        if options.jt808.share > 0 else ([], 0)
    return DemoApp(app, feed, start_ts, clock_note, notes, len(roster), today, options.jt808.share)


def _with_tokens(settings: Settings) -> tuple[Settings, list[str]]:
    """The demo needs the ingest and admin endpoints usable: make up tokens that are not set."""
    changes: dict[str, Any] = {}
    lines = []
    for key, label in (("ingest.token", "ingest token (TRANSIT_INGEST_TOKEN)"),
                       ("admin.token", "admin token (TRANSIT_ADMIN_TOKEN)")):
        section, _, name = key.partition(".")
        value = getattr(getattr(settings, section), name)
        if not value:
            value = secrets.token_urlsafe(12)
            changes[key] = value
        lines.append(f"{label}: {value}")
    return (settings.replace(**changes) if changes else settings), lines


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def banner(demo: DemoApp, settings: Settings) -> str:
    host = _client_host(settings.http.host)
    base = f"http://{host}:{settings.http.port}"
    index_links = demo.app[LINKS]
    examples = []
    for resource in demo.app.router.resources():
        path = resource.canonical
        if "{stop_id}" in path and path.endswith("/arrivals"):
            examples.append((path.replace("{stop_id}", EXAMPLE_STOP), "明水古城 到站预测 Arrivals at Mingshui Old Town"))
        elif "{route_id}" in path and path.endswith("/vehicles"):
            examples.append((path.replace("{route_id}", EXAMPLE_ROUTE), "1路 在线车辆 Buses on line 1"))
    out = [
        "",
        "章丘公交实时服务 演示 · Zhangqiu real-time transit demo",
        f"  network: feed version {demo.feed.feed_id} "
        + ("(imported now)" if demo.feed.imported else "(already active)"),
    ]
    if demo.feed.replaced:
        out.append(f"  note: the demo network replaced the active feed from {demo.feed.replaced}")
    out += [f"  clock: {demo.clock_note}", "", f"  open {base}/", ""]
    for path, title in examples:
        out.append(f"  {base}{path}\n      {title}")
    for path, title, audience in sorted(index_links, key=lambda link: (link[2], link[0])):
        out.append(f"  {base}{path}\n      {title}  [{audience}]")
    if demo.notes:
        out.append("")
        out += [f"  {note}" for note in demo.notes]
    server = get_services(demo.app).extras.get("jt808")
    port = server.port if server is not None and server.port else settings.jt808.port
    out.append(f"  JT/T 808 terminals: tcp://{_client_host(settings.jt808.host)}:{port}")
    if server is not None and demo.jt808_buses:
        out.append(f"      {demo.jt808_buses} of the day's {demo.buses_today} demo buses report here as JT/T 808 "
                   f"terminals ({'every bus' if demo.jt808_share == 1 else f'one bus in {demo.jt808_share}'}, "
                   "--jt808-share)")
    out.append("")
    return "\n".join(out)


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app import runtime
    from transit.app.server import run_app

    settings, token_lines = _with_tokens(settings)
    options = DemoOptions(speed=args.speed, vehicles=args.vehicles, seed=args.seed, start=args.start,
                          assignment=args.assignment, jt808=Jt808Options(share=args.jt808_share))
    if options.speed <= 0:
        print("transit demo: --speed must be positive", file=sys.stderr)
        return 2
    if args.jt808_share < 0:
        print("transit demo: --jt808-share must be 0 (none) or more", file=sys.stderr)
        return 2
    async with runtime.services(settings) as svc:
        try:
            built = await build_demo_app(svc, options)
        except ValueError as exc:
            print(f"transit demo: {exc}", file=sys.stderr)
            return 2
        built.notes[:0] = token_lines

        async def announce(app: web.Application) -> AsyncIterator[None]:
            print(banner(built, settings), flush=True)
            yield

        built.app.cleanup_ctx.append(announce)
        await run_app(built.app, svc)
    return 0
