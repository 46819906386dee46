"""The rider API under ``/api/v1``: routes, rate limiting, metrics and the handlers.

Handlers read ``services.snapshots.current()`` and ``services.schedule.current()`` once, and
serve memoised bodies (see ``caching.py``): a popular stop's arrivals are built once per
snapshot (and at least every :data:`LIVE_TTL_S`, since "minutes away" moves with the clock),
then served as the same bytes with the same ETag to everyone.  No handler touches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from transit.api import arrivals_json, live_json, network_json
from transit.api.arrivals_cache import LIVE_TTL_S, ArrivalsCache, ArrivalsQuery, run_refresher
from transit.api.caching import LIVE, STATIC, Entry, client_ip, index_memo, make_entry, respond, snapshot_memo
from transit.api.openapi import openapi_document
from transit.api.params import (
    bool_param,
    date_param,
    float_param,
    int_param,
    latlon_param,
    list_param,
    time_param,
)
from transit.api.ratelimit import RateLimiter
from transit.app.errors import internal_error, json_error, not_found
from transit.app.health import add_link
from transit.app.server import add_direct_get
from transit.app.services import Services
from transit.core.snapshot import Snapshot
from transit.schedule.index import ScheduleIndex

PREFIX = "/api/v1"


class ApiMetrics:
    def __init__(self, services: Services) -> None:
        registry = services.registry
        self.requests = Counter("transit_api_requests_total", "Rider API and feed requests, by endpoint",
                                ["endpoint"], registry=registry)
        self.errors = Counter("transit_api_errors_total",
                              "Rider API requests refused: bad parameter (400), unknown id (404), ...",
                              ["endpoint", "status"], registry=registry)
        self.limited = Counter("transit_api_rate_limited_total",
                               "Requests refused with 429 because the client exceeded its rate",
                               registry=registry)
        self._children: dict[str, Any] = {}

    def count(self, endpoint: str) -> None:
        child = self._children.get(endpoint)
        if child is None:
            child = self._children[endpoint] = self.requests.labels(endpoint)
        child.inc()


@dataclass
class ApiState:
    services: Services
    limiter: RateLimiter
    metrics: ApiMetrics
    arrivals: ArrivalsCache = field(init=False)
    #: (stop_id, raw query string) -> the parsed query, for the index it was checked against
    parsed: dict[tuple[str, str], tuple[ArrivalsQuery, ScheduleIndex]] = field(default_factory=dict)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    streams: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.arrivals = ArrivalsCache(self._arrivals_payload)

    def _arrivals_payload(self, snapshot: Snapshot, index: ScheduleIndex, query: ArrivalsQuery,
                          now: float) -> dict[str, Any]:
        return arrivals_json.arrivals_payload(
            snapshot, index, query.stop_id, now, route_ids=query.route_ids, limit=query.limit,
            minutes=query.minutes, per_line=query.per_line, stale_s=self.stale_s)

    def current(self) -> tuple[Snapshot, ScheduleIndex | None, float]:
        s = self.services
        return s.snapshots.current(), s.schedule.current(), s.clock.now()

    @property
    def stale_s(self) -> float:
        return self.services.settings.tracking.prediction_stale_s


API_STATE = web.AppKey("api_state", ApiState)

Handler = Callable[[web.Request, ApiState], Awaitable[web.StreamResponse]]


def get_api_state(app: web.Application, services: Services) -> ApiState:
    """The shared limiter and metrics (the GTFS-Realtime component uses them too)."""
    state = services.extras.get("api.state")
    if state is None:
        state = ApiState(services, RateLimiter(services.settings.api.rate_limit_per_s), ApiMetrics(services))
        services.extras["api.state"] = state
    if API_STATE not in app:
        app[API_STATE] = state
    return state


def admit(request: web.Request, state: ApiState, endpoint: str) -> None:
    """Per-client rate limit (429 + Retry-After) and the request count of ``endpoint``."""
    trust = state.services.settings.api.trust_forwarded_for
    wait = state.limiter.check(client_ip(request, trust), time.monotonic())
    if wait:
        state.metrics.limited.inc()
        retry = RateLimiter.retry_after(wait)
        raise json_error(429, "rate_limited", f"too many requests from this address; retry in {retry} s",
                         headers={"Retry-After": retry, "Cache-Control": "no-store"}, retry_after_s=int(retry))
    state.metrics.count(endpoint)


def refused(state: ApiState, endpoint: str, exc: web.HTTPException) -> None:
    """Count an error answer of ``endpoint`` and keep shared caches from storing it."""
    if exc.status >= 400:
        state.metrics.errors.labels(endpoint, str(exc.status)).inc()
        exc.headers.setdefault("Cache-Control", "no-store")


def limited(endpoint: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler: per-client rate limit (429 + Retry-After), request and error counts."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        state = request.app[API_STATE]
        admit(request, state, endpoint)
        try:
            return await handler(request, state)
        except web.HTTPException as exc:
            refused(state, endpoint, exc)
            raise

    wrapper.__name__ = getattr(handler, "__name__", endpoint)
    return wrapper


def current_index(services: Services) -> ScheduleIndex:
    index = services.schedule.current()
    if index is None:
        raise json_error(503, "no_schedule", "no GTFS feed is loaded yet; try again shortly",
                         headers={"Retry-After": "30"})
    return index


# ---------------------------------------------------------------------- stops
async def list_stops(request: web.Request, state: ApiState) -> web.Response:
    index = current_index(state.services)
    near = latlon_param(request, "near")
    radius = float_param(request, "radius_m", network_json.DEFAULT_RADIUS_M, 1.0, network_json.MAX_RADIUS_M)
    limit = int_param(request, "limit", network_json.DEFAULT_STOP_LIMIT, 1, network_json.MAX_STOP_LIMIT)
    q = request.query.get("q") or None
    key = ("stops", near, radius if near else None, q, limit)
    entry = index_memo(index, key, lambda: make_entry(
        network_json.list_stops(index, near=near, radius_m=radius, q=q, limit=limit), STATIC, 0.0, index))
    return respond(request, entry)


async def get_stop(request: web.Request, state: ApiState) -> web.Response:
    index = current_index(state.services)
    stop_id = request.match_info["stop_id"]
    s = index.find_stop(stop_id)
    if s is None:
        raise not_found("stop", stop_id)
    entry = index_memo(index, ("stop", stop_id),
                       lambda: make_entry(network_json.stop_detail(index, s), STATIC, 0.0, index))
    return respond(request, entry)


def parse_arrivals_query(request: web.Request, index: ScheduleIndex, stop_id: str | None = None) -> ArrivalsQuery:
    if stop_id is None:
        stop_id = request.match_info["stop_id"]
    if index.find_stop(stop_id) is None:
        raise not_found("stop", stop_id)
    route_ids = list_param(request, "route_id")
    for route_id in route_ids or ():
        if index.find_route(route_id) is None:
            raise json_error(404, "not_found", f"unknown route {route_id!r} (parameter route_id)",
                             route=route_id, parameter="route_id")
    limit = int_param(request, "limit", arrivals_json.DEFAULT_LIMIT, 1, arrivals_json.MAX_LIMIT)
    minutes = int_param(request, "minutes", arrivals_json.DEFAULT_MINUTES, 1, arrivals_json.MAX_MINUTES)
    per_line = int_param(request, "per_line", arrivals_json.DEFAULT_PER_LINE, 0, arrivals_json.MAX_LIMIT)
    return ArrivalsQuery(stop_id, route_ids, limit, minutes, per_line)


def _arrivals(request: web.Request, state: ApiState, stop_id: str) -> web.Response:
    services = state.services
    index = current_index(services)
    # the raw query string is the key of the fast path: parsing happens once per distinct query
    raw = (stop_id, request.query_string)
    parsed = state.parsed.get(raw)
    if parsed is None or parsed[1] is not index:
        if len(state.parsed) >= 50_000:
            state.parsed.clear()
        parsed = state.parsed[raw] = (parse_arrivals_query(request, index, stop_id), index)
    entry = state.arrivals.get(services.snapshots.current(), index, parsed[0], services.clock.now())
    return respond(request, entry)


async def stop_arrivals(request: web.Request, state: ApiState) -> web.Response:
    return _arrivals(request, state, request.match_info["stop_id"])


class DirectArrivals:
    """``GET /api/v1/stops/{stop_id}/arrivals`` served ahead of the router and middlewares
    (:func:`transit.app.server.add_direct_get`): the rider API's busiest endpoint, asked every
    few seconds by every open app, where aiohttp's routing and middleware chain would cost as
    much as the answer.  It does their part itself: the rate limit and counts of
    :func:`limited`, and a JSON 500 for anything unexpected."""

    def __init__(self, state: ApiState) -> None:
        self._state = state

    async def __call__(self, request: web.Request, stop_id: str) -> web.StreamResponse:
        state = self._state
        try:
            admit(request, state, "arrivals")
            return _arrivals(request, state, stop_id)
        except web.HTTPException as exc:
            refused(state, "arrivals", exc)
            raise
        except Exception:
            raise internal_error(request) from None


# ---------------------------------------------------------------------- routes
async def list_routes(request: web.Request, state: ApiState) -> web.Response:
    index = current_index(state.services)
    entry = index_memo(index, ("routes",), lambda: make_entry(network_json.list_routes(index), STATIC, 0.0, index))
    return respond(request, entry)


async def get_route(request: web.Request, state: ApiState) -> web.Response:
    index = current_index(state.services)
    route_id = request.match_info["route_id"]
    r = index.find_route(route_id)
    if r is None:
        raise not_found("route", route_id)
    shape = bool_param(request, "shape", True)
    entry = index_memo(index, ("route", route_id, shape),
                       lambda: make_entry(network_json.route_detail(index, r, shape), STATIC, 0.0, index))
    return respond(request, entry)


async def route_vehicles(request: web.Request, state: ApiState) -> web.Response:
    services = state.services
    index = current_index(services)
    route_id = request.match_info["route_id"]
    if index.find_route(route_id) is None:
        raise not_found("route", route_id)
    snapshot = services.snapshots.current()
    now = services.clock.now()
    entry = snapshot_memo(snapshot, "route_vehicles", route_id, now, index, None,
                          lambda: make_entry(live_json.route_vehicles(snapshot, index, route_id), LIVE, now, index))
    return respond(request, entry)


# ---------------------------------------------------------------------- vehicles and trips
async def list_vehicles(request: web.Request, state: ApiState) -> web.Response:
    services = state.services
    index = current_index(services)
    route_ids = list_param(request, "route_id")
    snapshot = services.snapshots.current()
    now = services.clock.now()

    def build() -> Entry:
        vehicles = [live_json.vehicle_json(snapshot, index, v) for _, v in sorted(snapshot.vehicles.items())
                    if route_ids is None or v.route_id in route_ids]
        return make_entry({"count": len(vehicles), "vehicles": vehicles}, LIVE, now, index)

    return respond(request, snapshot_memo(snapshot, "vehicles", route_ids, now, index, None, build))


async def get_vehicle(request: web.Request, state: ApiState) -> web.Response:
    services = state.services
    index = current_index(services)
    vehicle_id = request.match_info["vehicle_id"]
    snapshot = services.snapshots.current()
    v = snapshot.vehicles.get(vehicle_id)
    if v is None:
        raise not_found("vehicle", vehicle_id)
    now = services.clock.now()
    entry = snapshot_memo(snapshot, "vehicle", vehicle_id, now, index, None, lambda: make_entry(
        live_json.vehicle_json(snapshot, index, v, next_stops=5), LIVE, now, index))
    return respond(request, entry)


async def get_trip(request: web.Request, state: ApiState) -> web.Response:
    services = state.services
    index = current_index(services)
    trip_id = request.match_info["trip_id"]
    if index.find_trip(trip_id) is None:
        raise not_found("trip", trip_id)
    service_date = date_param(request, "service_date")
    start_time = time_param(request, "start_time")
    snapshot = services.snapshots.current()
    now = services.clock.now()
    entry = snapshot_memo(snapshot, "trip", (trip_id, service_date, start_time), now, index, LIVE_TTL_S,
                          lambda: make_entry(live_json.trip_payload(
                              snapshot, index, trip_id, now, stale_s=state.stale_s, service_date=service_date,
                              start_time=start_time), LIVE, now, index))
    return respond(request, entry)


# ---------------------------------------------------------------------- OpenAPI
_OPENAPI: dict[str, Entry] = {}


async def openapi(request: web.Request, state: ApiState) -> web.Response:
    entry = _OPENAPI.get("doc")
    if entry is None:
        entry = _OPENAPI["doc"] = make_entry(openapi_document(), "public, max-age=3600", 0.0)
    return respond(request, entry)


# ---------------------------------------------------------------------- wiring
def setup(app: web.Application, services: Services) -> None:
    from transit.api.stream import stop_stream

    state = get_api_state(app, services)
    routes = [
        ("/stops", "stops", list_stops),
        ("/stops/{stop_id}", "stop", get_stop),
        ("/stops/{stop_id}/arrivals", "arrivals", stop_arrivals),
        ("/stops/{stop_id}/stream", "stream", stop_stream),
        ("/routes", "routes", list_routes),
        ("/routes/{route_id}", "route", get_route),
        ("/routes/{route_id}/vehicles", "route_vehicles", route_vehicles),
        ("/vehicles", "vehicles", list_vehicles),
        ("/vehicles/{vehicle_id}", "vehicle", get_vehicle),
        ("/trips/{trip_id}", "trip", get_trip),
        ("/openapi.json", "openapi", openapi),
    ]
    for path, name, handler in routes:
        app.router.add_get(PREFIX + path, limited(name, handler), name=f"api-{name}")
    add_direct_get(app, PREFIX + "/stops/", "/arrivals", DirectArrivals(state))
    add_link(app, PREFIX + "/openapi.json", "乘客接口说明 Rider API (OpenAPI 3)", "developers")
    add_link(app, PREFIX + "/routes", "线路 Routes (JSON)", "riders")
    add_link(app, PREFIX + "/vehicles", "在线车辆 Vehicles in service (JSON)", "riders")

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async for _ in run_refresher(state.arrivals, services.snapshots.subscribe, state.current):
            yield
        await close_streams(state)

    async def on_shutdown(app: web.Application) -> None:
        await close_streams(state)

    app.on_shutdown.append(on_shutdown)
    app.cleanup_ctx.append(lifecycle)


async def close_streams(state: ApiState) -> None:
    """End every live stream (they would otherwise hold a graceful shutdown to its timeout)."""
    state.closing.set()
    tasks = [t for t in state.streams if not t.done()]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(task), 1.0)
