"""HTTP ingest: ``POST /api/v1/ingest/gtfs-rt`` and ``POST /api/v1/ingest/positions`` (ingest
token), and ``GET /api/v1/admin/feeds`` (admin token) for the health of polled feeds.

Both ingest endpoints answer 200 only after the accepted fixes are committed:
``{"accepted": n, "rejected": [{"index", "kind", "detail"}, ...]}`` with ``index`` the entity
(GTFS-RT) or item (JSON) position in the request.  A body that cannot be read at all is a 400
naming the problem; storage refusing (PostgreSQL away and the buffer full) is a 503 with
Retry-After.  Every rejection is counted in ``transit_rejections_total{source,kind}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from feeds.gps.gtfsrt import FeedDecodeError, decode_vehicle_positions
from feeds.gps.jsonpos import PositionsBodyError, parse_positions
from feeds.gps.metrics import get_ingest_metrics
from transit.app.auth import check_token
from transit.app.errors import json_error
from transit.app.services import Services, get_services
from transit.core.fix import Fix
from transit.core.ingest import IngestUnavailable
from transit.core.rejection import Rejection

GTFS_RT_SOURCE = "gtfs-rt"
JSON_SOURCE = "json"

#: The pollers of this app (feeds.gps.poller.FeedPoller), for the admin endpoint.
POLLERS = web.AppKey("gps_pollers", list)


async def submit_and_merge(
    services: Services, fixes: Sequence[Fix], item_index: Sequence[int], early: list[Rejection], source: str
) -> tuple[int, list[Rejection]]:
    """Submit ``fixes`` and return (stored, every rejection indexed by request item).

    ``early`` are the decoder's rejections (already indexed by item and counted here);
    the sink's rejections are indexed by position in ``fixes`` and mapped back through
    ``item_index``.
    """
    get_ingest_metrics(services.registry).count_rejections(source, early)
    stored = 0
    rejections = list(early)
    if fixes:
        result = await services.require_sink().submit(fixes, source=source)
        stored = result.stored
        rejections.extend(Rejection(item_index[r.index], r.kind, r.detail) for r in result.rejections)
        rejections.sort(key=lambda r: r.index)
    return stored, rejections


def unavailable(exc: IngestUnavailable) -> web.HTTPException:
    return json_error(503, "ingest_unavailable", exc.reason,
                      headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))})


async def _read_body(request: web.Request, services: Services, source: str) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        get_ingest_metrics(services.registry).rejections.labels(source, "frame_too_large").inc()
        limit = services.settings.ingest.max_body_bytes
        raise json_error(413, "body_too_large", f"the body is larger than {limit} bytes "
                         "(TRANSIT_INGEST_MAX_BODY_BYTES); send smaller batches", max_bytes=limit) from None


def _answer(stored: int, rejections: list[Rejection], **extra: Any) -> web.Response:
    return web.json_response(
        {"accepted": stored, "rejected": [r.as_json() for r in rejections], **extra},
        dumps=lambda obj: json.dumps(obj, ensure_ascii=False),
    )


async def ingest_gtfs_rt(request: web.Request) -> web.Response:
    check_token(request, "ingest")
    services = get_services(request)
    body = await _read_body(request, services, GTFS_RT_SOURCE)
    try:
        feed = decode_vehicle_positions(body, received_ts=services.clock.now(), source=GTFS_RT_SOURCE)
    except FeedDecodeError as exc:
        get_ingest_metrics(services.registry).rejections.labels(GTFS_RT_SOURCE, "malformed").inc()
        raise json_error(400, "malformed_feed", str(exc)) from None
    try:
        stored, rejections = await submit_and_merge(
            services, feed.fixes, feed.entity_index, feed.rejections, GTFS_RT_SOURCE)
    except IngestUnavailable as exc:
        raise unavailable(exc) from None
    return _answer(stored, rejections, entities=feed.entities, ignored=feed.ignored,
                   header_timestamp=feed.header_ts)


async def ingest_positions(request: web.Request) -> web.Response:
    check_token(request, "ingest")
    services = get_services(request)
    body = await _read_body(request, services, JSON_SOURCE)
    metrics = get_ingest_metrics(services.registry)
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        metrics.rejections.labels(JSON_SOURCE, "malformed").inc()
        raise json_error(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    try:
        fixes, index, early = parse_positions(
            document, tz=services.settings.tz, received_ts=services.clock.now(), source=JSON_SOURCE)
    except PositionsBodyError as exc:
        metrics.rejections.labels(JSON_SOURCE, "malformed").inc()
        raise json_error(400, "malformed_batch", str(exc)) from None
    try:
        stored, rejections = await submit_and_merge(services, fixes, index, early, JSON_SOURCE)
    except IngestUnavailable as exc:
        raise unavailable(exc) from None
    return _answer(stored, rejections)


async def list_feeds(request: web.Request) -> web.Response:
    check_token(request, "admin")
    pollers = request.app[POLLERS]
    return web.json_response({"feeds": [p.health.as_json() for p in pollers]},
                             dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/ingest/gtfs-rt", ingest_gtfs_rt)
    app.router.add_post("/api/v1/ingest/positions", ingest_positions)
    app.router.add_get("/api/v1/admin/feeds", list_feeds)
