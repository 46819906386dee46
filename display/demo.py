"""Demo: stop boards of several layouts at the demo network's busiest stops, polling as it runs.

Boards (ids ``ZQ-B01`` ...): a four-row GB2312 board, a six-row board covering both directions of
a stop, a bilingual two-row board that pages, a one-row 16-cell board, a bilingual LCD screen
taking JSON, a board fed over MQTT, a flaky board that drops off line for a quarter of an hour
every hour, and one that died last week.  Each start gives them new keys and prints them with
their frame and preview URLs.

The bureau's board-coverage indicator needs history, so on first creation the boards are dated
two months back with a past that fits each one (the flaky one has lost its midday hour every day,
the dead one has been silent for a week); from then on the simulated boards poll the real
endpoint (or, with no HTTP port, the same code in-process) on the demo's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
from aiohttp import web

from display.board_spec import BoardSpec
from display.boards import Boards
from display.keys import generate_key
from display.registry import save_boards
from transit.app.services import Services
from transit.schedule.index import ScheduleIndex

log = logging.getLogger(__name__)

HISTORY_DAYS = 60


@dataclass(frozen=True, slots=True)
class DemoBoard:
    board_id: str
    rows: int
    cols: int
    encoding: str
    languages: str
    both_directions: bool = False
    delivery: str = "poll"
    frame_format: str = "json"
    message_mode: str = "row"
    interval_s: float = 10.0
    #: steady | flaky (off line minutes 40-55 of every hour) | dead (silent for a week) | push (MQTT)
    behaviour: str = "steady"
    wants_json: bool = False


BOARDS: tuple[DemoBoard, ...] = (
    DemoBoard("ZQ-B01", 4, 32, "GB2312", "zh"),
    DemoBoard("ZQ-B02", 6, 40, "GBK", "zh", both_directions=True, interval_s=15.0),
    DemoBoard("ZQ-B03", 2, 24, "GB2312", "zh+en"),
    DemoBoard("ZQ-B04", 1, 16, "GB2312", "zh", interval_s=5.0),
    DemoBoard("ZQ-B05", 8, 48, "UTF-8", "zh+en", delivery="both", wants_json=True, interval_s=20.0),
    DemoBoard("ZQ-B06", 3, 32, "GB2312", "zh", delivery="mqtt", frame_format="raw", message_mode="page",
              behaviour="push"),
    DemoBoard("ZQ-B07", 4, 32, "GB2312", "zh", behaviour="flaky"),
    DemoBoard("ZQ-B08", 2, 32, "GB2312", "zh", behaviour="dead"),
)


def busiest_stops(index: ScheduleIndex, n: int) -> list[tuple[str, str | None]]:
    """(stop, the stop of the same name across the road or None), by number of lines, busiest first."""
    by_name: dict[str, list[str]] = {}
    for pos, stop_id in enumerate(index.stop_ids):
        by_name.setdefault(index.stop_name[pos], []).append(stop_id)
    ranked = sorted(range(len(index.stop_ids)),
                    key=lambda s: (-len(index.routes_at_stop(s)), index.stop_ids[s]))
    out: list[tuple[str, str | None]] = []
    used: set[str] = set()
    for s in ranked:
        stop_id = index.stop_ids[s]
        if stop_id in used or not len(index.routes_at_stop(s)):
            continue
        twins = [t for t in by_name[index.stop_name[s]] if t != stop_id]
        used.update([stop_id, *twins])
        out.append((stop_id, twins[0] if twins else None))
        if len(out) == n:
            break
    return out


def _ts(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


async def _write_history(pool: asyncpg.Pool, board: DemoBoard, now: float, tz: dt.tzinfo, rng: random.Random) -> None:
    """A past for a newly created demo board: registered two months ago, with its outages."""
    created = now - HISTORY_DAYS * 86400.0
    periods: list[tuple[float, float | None, str]] = [(created, created + rng.uniform(600, 7200), "never_seen")]
    today = dt.datetime.fromtimestamp(now, tz).date()
    for back in range(HISTORY_DAYS, 0, -1):
        day = today - dt.timedelta(days=back)
        noon = dt.datetime.combine(day, dt.time(12, 0), tz).timestamp()
        if board.behaviour == "flaky":
            periods.append((noon - 1800, noon + rng.uniform(1800, 3600), "missed_polls"))
        elif board.behaviour == "dead" and back <= 7:
            periods.append((noon - 43200 + rng.uniform(0, 3600), None, "missed_polls"))
            break
        elif rng.random() < 0.05:  # an odd 4G outage
            start = noon + rng.uniform(-5, 8) * 3600
            periods.append((start, start + rng.uniform(900, 4 * 3600), "missed_polls"))
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE boards SET created_at = $2 WHERE board_id = $1", board.board_id, _ts(created))
        await conn.execute("DELETE FROM board_offline_periods WHERE board_id = $1", board.board_id)
        await conn.executemany(
            "INSERT INTO board_offline_periods (board_id, start_at, end_at, reason) VALUES ($1, $2, $3, $4)",
            [(board.board_id, _ts(s), _ts(e) if e is not None else None, r) for s, e, r in periods])
        if board.behaviour == "dead":
            last = periods[-1][0] - 30
            await conn.execute("UPDATE boards SET last_seen_at = $2, last_ip = '10.42.0.8', firmware = 'ZQ-LED 2.1', "
                               "last_via = 'poll' WHERE board_id = $1", board.board_id, _ts(last))


async def _poll_forever(boards: Boards, board: DemoBoard, key: str, base_url: str | None) -> None:
    """One simulated controller: poll at its interval with If-None-Match, like the real ones."""
    clock = boards.clock
    etag: str | None = None
    await clock.sleep(random.uniform(0, board.interval_s))
    async with aiohttp.ClientSession() as session:
        while True:
            now = clock.now()
            minute = dt.datetime.fromtimestamp(now, boards.frames.tz).minute
            if not (board.behaviour == "flaky" and 40 <= minute < 55):
                try:
                    if base_url is not None:
                        headers = {"X-Board-Key": key, "X-Board-Firmware": "ZQ-LED 2.3"}
                        if etag:
                            headers["If-None-Match"] = etag
                        if board.wants_json:
                            headers["Accept"] = "application/json"
                        async with session.get(f"{base_url}/boards/{board.board_id}/frame", headers=headers) as resp:
                            etag = resp.headers.get("ETag", etag)
                            await resp.read()
                    else:
                        live = boards.registry.get(board.board_id)
                        if live is not None:
                            boards.health.record_poll(live, now, "127.0.0.1", "ZQ-LED 2.3")
                            boards.frames.get_page(live, now, advance=True)
                except (aiohttp.ClientError, OSError) as exc:
                    log.debug("demo board %s poll failed: %s", board.board_id, exc)
            await clock.sleep(board.interval_s)


def setup_demo(app: web.Application, services: Services, notes: list[str]) -> None:
    boards: Boards | None = services.extras.get("boards")
    if boards is None:
        raise RuntimeError("the boards component (display.component:setup) is not in this app")
    index = services.schedule.get()
    http = services.settings.http
    host = "127.0.0.1" if http.host in ("0.0.0.0", "::", "") else http.host
    base_url = f"http://{host}:{http.port}" if http.port else None
    stops = busiest_stops(index, len(BOARDS))
    admin_q = f"?token={services.settings.admin.token}" if services.settings.admin.token else ""

    async def run(app: web.Application) -> AsyncIterator[None]:
        pool = services.pool
        now = services.clock.now()
        existing = {r["board_id"] for r in await pool.fetch("SELECT board_id FROM boards")}
        keys = {b.board_id: generate_key() for b in BOARDS}
        specs = []
        for i, b in enumerate(BOARDS):
            stop, twin = stops[i % len(stops)]
            stop_ids = (stop, twin) if b.both_directions and twin else (stop,)
            pos = index.find_stop(stop)
            name = index.stop_name[pos] if pos is not None else stop
            specs.append(BoardSpec(
                board_id=b.board_id, stop_ids=stop_ids, route_ids=(), rows=b.rows, cols=b.cols, encoding=b.encoding,
                languages=b.languages, key=keys[b.board_id], poll_interval_s=b.interval_s,
                location=f"{name} 候车亭" + (" (两个方向 both directions)" if len(stop_ids) > 1 else ""),
                delivery=b.delivery, frame_format=b.frame_format, message_mode=b.message_mode))
        await save_boards(pool, specs, now)
        rng = random.Random(20)
        for b in BOARDS:
            if b.board_id not in existing:
                await _write_history(pool, b, now, boards.frames.tz, rng)
        await boards.registry.reload(pool)
        await boards.health.load(pool)
        route = index.route_ids[0] if index.route_ids else None
        if route is not None and not boards.messages.for_board("", {route}, now):
            await boards.messages.create(pool, scope="route", target=route, text="绣源河段道路施工 临时改道",
                                         text_en="Road works at Xiuyuan River: detour", starts_ts=now,
                                         ends_ts=now + 2 * 3600, now=now)

        notes.append("电子站牌 stop boards (keys are new at every start; the admin token opens the previews):")
        for b, s in zip(BOARDS, specs, strict=True):
            url = f"{base_url or ''}/boards/{b.board_id}/frame?key={keys[b.board_id]}"
            notes.append(f"  {b.board_id} {b.rows}x{b.cols} {b.encoding} {b.languages} {b.delivery:<4} "
                         f"{b.behaviour:<6} {s.location}")
            notes.append(f"      {url}")
            notes.append(f"      {base_url or ''}/boards/{b.board_id}/preview{admin_q}")
        notes.append(f"  all boards: {base_url or ''}/boards{admin_q}")

        tasks = [asyncio.create_task(_poll_forever(boards, b, keys[b.board_id], base_url),
                                     name=f"demo-board-{b.board_id}")
                 for b in BOARDS if b.behaviour in ("steady", "flaky")]
        if boards.publisher is None:
            notes.append("  (ZQ-B06 takes its frames over MQTT: set TRANSIT_MQTT_URL=mqtt://127.0.0.1:1883 to see "
                         "it pushed to and on line)")
        else:
            from display.demo_mqtt import simulate_mqtt_board

            for b in BOARDS:
                if b.behaviour == "push":
                    tasks.append(asyncio.create_task(
                        simulate_mqtt_board(services.settings.mqtt.url or "", b.board_id),
                        name=f"demo-board-{b.board_id}"))
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(run)
