"""HTTP endpoints of the signal component.

Ingest (ingest token):
  POST /api/v1/ingest/signal-events    Indiana event log (CSV body; ?signal_id= for logs without
                                       that column, ?timezone= for local times not in the service's zone)
  POST /api/v1/ingest/signal-status    GA/T 1049.2-style status messages (JSON)
  POST /api/v1/ingest/camera-reports   camera heartbeats or daily capture counts (JSON or text/csv)
Admin (admin token):
  GET/POST /api/v1/admin/intersections, GET/PUT/DELETE /api/v1/admin/intersections/{id}
  GET  /api/v1/admin/signals/ratios?from=&to= (or ?month=YYYY-MM; default today)
  GET  /api/v1/admin/signals/coverage-days?from=&to=&intersection_id=
  POST /api/v1/admin/signals/recompute?from=&to=
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from signals.cameras import decode_camera_csv, decode_camera_json, roll_up
from signals.codes import name_counts
from signals.coverage import ratios
from signals.indiana import EventLogError, parse_event_log
from signals.intersections import (
    InvalidIntersection,
    check_unique,
    intersection_from,
    parse_intersections_csv,
)
from signals.log_store import list_days
from signals.recompute import process_dirty, recompute_range, today
from signals.registry import delete_intersection, find_intersection, list_intersections, upsert_intersections
from signals.runtime import SignalsRuntime, get_runtime
from signals.status import MessageError, decode_status
from signals.store import store_camera_days, store_events, store_status
from transit.app.auth import check_token
from transit.app.errors import bad_parameter, json_error, not_found
from transit.app.services import get_services
from transit.core.rejection import Rejection

_dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _rejected(rejections: list[Rejection] | tuple[Rejection, ...]) -> list[dict[str, object]]:
    return [r.as_json() for r in rejections]


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise json_error(400, "malformed", f"the body is not JSON: {exc}") from None


def _runtime(request: web.Request) -> SignalsRuntime:
    return get_runtime(request.app)


def storage_guard(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """PostgreSQL unreachable: 503 with Retry-After, so the sender keeps the batch and retries
    (nothing is acknowledged that was not committed)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
                asyncpg.PostgresConnectionError) as exc:
            raise json_error(503, "unavailable", f"storage is unavailable ({type(exc).__name__}); retry later",
                             headers={"Retry-After": "5"}) from None

    return guarded


def _outcome(stored: int, rejections: list[Rejection] | tuple[Rejection, ...]) -> int:
    return 422 if rejections and not stored else 200


async def ingest_events(request: web.Request) -> web.Response:
    check_token(request, "ingest")
    services = get_services(request)
    rt = _runtime(request)
    tz = request.query.get("timezone", services.settings.timezone)
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise bad_parameter("timezone", f"unknown time zone {tz!r}") from None
    signal_id = request.query.get("signal_id") or None
    body = await request.read()
    try:
        parsed = await asyncio.to_thread(parse_event_log, body, tz=tz, signal_id=signal_id,
                                         now=services.clock.now(), max_future_s=services.settings.ingest.max_future_s)
    except EventLogError as exc:
        rt.metrics.rejections.labels("signal_events", "malformed").inc()
        raise json_error(400, "malformed", str(exc)) from None
    rt.metrics.reject("signal_events", parsed.rejections)
    result = await store_events(services.pool, parsed, tz)
    rt.metrics.stored.labels("signal_events").inc(result.stored)
    rt.worker.poke()
    return _json({
        "stored": result.stored, "replaced": result.replaced, "rows_read": parsed.rows_read,
        "signal_ids": sorted(set(result.days)), "codes": name_counts(parsed.code_counts()),
        "days": result.days, "unregistered_controllers": list(result.unregistered),
        "rejected": _rejected(parsed.rejections),
    }, status=_outcome(result.stored, parsed.rejections))


async def ingest_status(request: web.Request) -> web.Response:
    check_token(request, "ingest")
    services = get_services(request)
    rt = _runtime(request)
    body = await _json_body(request)
    messages, rejections = decode_status(body, tz=services.settings.timezone, now=services.clock.now(),
                                         max_future_s=services.settings.ingest.max_future_s)
    rt.metrics.reject("signal_status", rejections)
    result = await store_status(services.pool, messages, services.settings.timezone)
    rt.metrics.stored.labels("signal_status").inc(result.stored)
    if messages:
        rt.worker.poke()
    return _json({"accepted": len(messages), "stored": result.stored, "duplicates": len(messages) - result.stored,
                  "unregistered_controllers": list(result.unregistered), "rejected": _rejected(rejections)},
                 status=_outcome(len(messages), rejections))


async def ingest_cameras(request: web.Request) -> web.Response:
    check_token(request, "ingest")
    services = get_services(request)
    rt = _runtime(request)
    tz, now = services.settings.timezone, services.clock.now()
    future = services.settings.ingest.max_future_s
    try:
        if request.content_type in ("text/csv", "application/csv", "text/plain"):
            text = (await request.read()).decode("utf-8-sig")
            reports, rejections = decode_camera_csv(text, tz=tz, now=now, max_future_s=future)
        else:
            reports, rejections = decode_camera_json(await _json_body(request), tz=tz, now=now, max_future_s=future)
    except UnicodeDecodeError:
        raise json_error(400, "malformed", "the CSV body is not UTF-8") from None
    except MessageError as exc:
        rt.metrics.rejections.labels("camera_reports", str(exc.kind)).inc()
        raise json_error(400, str(exc.kind), exc.detail) from None
    rt.metrics.reject("camera_reports", rejections)
    result = await store_camera_days(services.pool, roll_up(reports, tz))
    rt.metrics.stored.labels("camera_reports").inc(len(reports))
    if reports:
        rt.worker.poke()
    return _json({"accepted": len(reports), "camera_days": result.stored,
                  "unregistered_cameras": list(result.unregistered), "rejected": _rejected(rejections)},
                 status=_outcome(len(reports), rejections))


# --- admin: the registry -------------------------------------------------------------------------

async def get_intersections(request: web.Request) -> web.Response:
    check_token(request, "admin")
    items = await list_intersections(get_services(request).pool)
    return _json({"intersections": [i.as_json() for i in items]})


async def post_intersections(request: web.Request) -> web.Response:
    check_token(request, "admin")
    services = get_services(request)
    rt = _runtime(request)
    rejections: list[Rejection] = []
    if request.content_type in ("text/csv", "application/csv", "text/plain"):
        try:
            good, rejections = parse_intersections_csv((await request.read()).decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise json_error(400, "malformed", "the CSV body is not UTF-8") from None
        except InvalidIntersection as exc:
            raise json_error(400, str(exc.kind), exc.detail) from None
    else:
        body = await _json_body(request)
        raw = body.get("intersections") if isinstance(body, dict) and "intersections" in body else body
        items = raw if isinstance(raw, list) else [raw]
        checked = []
        for i, item in enumerate(items):
            try:
                checked.append((i, intersection_from(item)))
            except InvalidIntersection as exc:
                rejections.append(Rejection(i, exc.kind, f"item {i}: {exc.detail}"))
        good, dupes = check_unique(checked)
        rejections += dupes
    stored, clashes = await upsert_intersections(services.pool, good)
    rejections = sorted([*rejections, *clashes], key=lambda r: r.index)
    rt.metrics.reject("intersections", rejections)
    rt.worker.poke()
    return _json({"stored": [i.intersection_id for i in stored], "rejected": _rejected(rejections)},
                 status=_outcome(len(stored), rejections))


async def get_intersection(request: web.Request) -> web.Response:
    check_token(request, "admin")
    ident = request.match_info["intersection_id"]
    item = await find_intersection(get_services(request).pool, ident)
    if item is None:
        raise not_found("intersection", ident)
    return _json(item.as_json())


async def put_intersection(request: web.Request) -> web.Response:
    check_token(request, "admin")
    ident = request.match_info["intersection_id"]
    body = await _json_body(request)
    if isinstance(body, dict):
        body = {**body, "intersection_id": body.get("intersection_id", ident)}
    try:
        item = intersection_from(body)
    except InvalidIntersection as exc:
        raise json_error(422, str(exc.kind), exc.detail) from None
    if item.intersection_id != ident:
        raise json_error(422, "bad_value", f"the body's intersection_id {item.intersection_id!r} is not {ident!r}")
    stored, clashes = await upsert_intersections(get_services(request).pool, [(0, item)])
    if clashes:
        raise json_error(409, "duplicate", clashes[0].detail.removeprefix("line 0: "))
    _runtime(request).worker.poke()
    return _json(stored[0].as_json())


async def remove_intersection(request: web.Request) -> web.Response:
    check_token(request, "admin")
    ident = request.match_info["intersection_id"]
    if not await delete_intersection(get_services(request).pool, ident):
        raise not_found("intersection", ident)
    return _json({"deleted": ident})


# --- admin: the coverage log and ratios ----------------------------------------------------------

def _date(request: web.Request, name: str) -> dt.date | None:
    text = request.query.get(name)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise bad_parameter(name, f"{text!r} is not a date (YYYY-MM-DD)") from None


def period(request: web.Request) -> tuple[dt.date, dt.date]:
    """?from=&to= (from alone runs to today, to alone is one day, neither is today) or ?month=YYYY-MM."""
    services = get_services(request)
    month = request.query.get("month")
    if month:
        try:
            first = dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            raise bad_parameter("month", f"{month!r} is not a month (YYYY-MM)") from None
        nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return first, nxt - dt.timedelta(days=1)
    start, end = _date(request, "from"), _date(request, "to")
    now_day = today(services.settings, services.clock.now())
    if start is None:
        start = end or now_day
    if end is None:
        end = max(start, now_day)
    if end < start:
        raise bad_parameter("to", f"{end} is before from={start}")
    if (end - start).days > 3660:
        raise bad_parameter("to", "the period is longer than ten years")
    return start, end


async def get_ratios(request: web.Request) -> web.Response:
    check_token(request, "admin")
    services = get_services(request)
    start, end = period(request)
    result = await ratios(services.pool, start, end, services.settings, now=services.clock.now())
    return _json(result.as_json())


async def get_days(request: web.Request) -> web.Response:
    check_token(request, "admin")
    services = get_services(request)
    start, end = period(request)
    await process_dirty(services.pool, services.settings, services.clock.now(), date_from=start, date_to=end)
    days = await list_days(services.pool, start, end, request.query.get("intersection_id") or None)
    return _json({"from": start.isoformat(), "to": end.isoformat(), "days": days})


async def post_recompute(request: web.Request) -> web.Response:
    check_token(request, "admin")
    services = get_services(request)
    start, end = period(request)
    done = await recompute_range(services.pool, start, end, services.settings, services.clock.now())
    _runtime(request).metrics.recomputed.inc(done)
    return _json({"from": start.isoformat(), "to": end.isoformat(), "days_recomputed": done})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/ingest/signal-events", storage_guard(ingest_events))
    app.router.add_post("/api/v1/ingest/signal-status", storage_guard(ingest_status))
    app.router.add_post("/api/v1/ingest/camera-reports", storage_guard(ingest_cameras))
    app.router.add_get("/api/v1/admin/intersections", get_intersections)
    app.router.add_post("/api/v1/admin/intersections", post_intersections)
    app.router.add_get("/api/v1/admin/intersections/{intersection_id}", get_intersection)
    app.router.add_put("/api/v1/admin/intersections/{intersection_id}", put_intersection)
    app.router.add_delete("/api/v1/admin/intersections/{intersection_id}", remove_intersection)
    app.router.add_get("/api/v1/admin/signals/ratios", get_ratios)
    app.router.add_get("/api/v1/admin/signals/coverage-days", get_days)
    app.router.add_post("/api/v1/admin/signals/recompute", post_recompute)
