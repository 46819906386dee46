"""HTTP for the GTFS-Realtime feeds and the static GTFS they refer to.

``/gtfs-rt/trip-updates`` and ``/gtfs-rt/vehicle-positions`` serve the publisher's bytes (gzip
when the client accepts it, compressed once per feed); ``?format=json`` is the readable debug
view.  ``/gtfs/static.zip`` is the exact archive of the active feed version, so a consumer
pairs the real-time feeds with the static feed they were built on (its ETag is the archive's
SHA-256).
"""

from __future__ import annotations

import email.utils
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from transit.api.caching import etag_matches
from transit.api.web import ApiState, current_index, get_api_state, limited
from transit.app.errors import bad_parameter, json_error
from transit.app.health import add_link
from transit.app.services import Services
from transit.gtfsrt.publisher import BuiltFeed, FeedPublisher

PUBLISHER = web.AppKey("gtfsrt_publisher", FeedPublisher)
PROTOBUF = "application/x-protobuf"


def get_publisher(services: Services) -> FeedPublisher:
    publisher = services.extras.get("gtfsrt.publisher")
    if publisher is None:
        registry = services.registry
        build_s = Histogram("transit_gtfsrt_build_seconds", "Time to build a GTFS-Realtime feed", ["feed"],
                            registry=registry, buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2))
        entities = Gauge("transit_gtfsrt_entities", "Entities in the current GTFS-Realtime feed", ["feed"],
                         registry=registry)
        dropped = Counter("transit_gtfsrt_dropped_total",
                          "Trips, calls or vehicles left out of a feed build, by reason", ["feed", "reason"],
                          registry=registry)

        def on_build(feed: BuiltFeed) -> None:
            build_s.labels(feed.kind).observe(feed.build_s)
            entities.labels(feed.kind).set(feed.entities)
            for reason, n in feed.dropped.items():
                dropped.labels(feed.kind, reason).inc(n)

        tracking = services.settings.tracking
        publisher = FeedPublisher(stale_s=tracking.prediction_stale_s, vehicle_stale_s=tracking.vehicle_stale_s,
                                  on_build=on_build)
        services.extras["gtfsrt.publisher"] = publisher
    return publisher


def _serve(request: web.Request, feed: BuiltFeed) -> web.Response:
    fmt = request.query.get("format", "protobuf")
    if fmt not in ("protobuf", "pb", "json"):
        raise bad_parameter("format", f"expected protobuf or json, got {fmt!r}")
    etag = feed.etag if fmt != "json" else feed.etag[:-1] + '-json"'
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",  # always revalidate: a 304 costs a header comparison
        "Last-Modified": email.utils.formatdate(feed.header_ts, usegmt=True),
        "Vary": "Accept-Encoding",
    }
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        if etag_matches(inm, etag):
            return web.Response(status=304, headers=headers)
    elif _not_modified_since(request, feed.header_ts):
        return web.Response(status=304, headers=headers)
    if fmt == "json":
        return web.Response(body=feed.as_json(), headers={**headers, "Content-Type": "application/json; charset=utf-8"})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        return web.Response(body=feed.gzipped(),
                            headers={**headers, "Content-Type": PROTOBUF, "Content-Encoding": "gzip"})
    return web.Response(body=feed.body, headers={**headers, "Content-Type": PROTOBUF})


def _not_modified_since(request: web.Request, ts: int) -> bool:
    since = request.headers.get("If-Modified-Since")
    if not since:
        return False
    try:
        parsed = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return parsed is not None and parsed.timestamp() >= ts


async def trip_updates(request: web.Request, state: ApiState) -> web.Response:
    services = state.services
    index = current_index(services)
    feed = get_publisher(services).get_trip_updates(services.snapshots.current(), index, services.clock.now())
    return _serve(request, feed)


async def vehicle_positions(request: web.Request, state: ApiState) -> web.Response:
    services = state.services
    index = current_index(services)
    feed = get_publisher(services).get_vehicle_positions(services.snapshots.current(), index, services.clock.now())
    return _serve(request, feed)


async def static_zip(request: web.Request, state: ApiState) -> web.Response:
    services = state.services
    index = current_index(services)
    cache: dict[str, Any] = services.extras.setdefault("gtfsrt.static_zip", {})
    if cache.get("feed_id") != index.feed_id:
        row = await services.pool.fetchrow(
            "SELECT archive, sha256 FROM feed_versions WHERE feed_id = $1", index.feed_id)
        if row is None or row["archive"] is None:
            raise json_error(404, "not_found", f"no archive is stored for feed version {index.feed_id}",
                             feed_id=index.feed_id)
        cache.clear()
        cache.update(feed_id=index.feed_id, body=bytes(row["archive"]), etag=f'"{row["sha256"]}"')
    headers = {
        "ETag": cache["etag"],
        "Cache-Control": "public, max-age=300",
        "Content-Disposition": f'attachment; filename="gtfs-{index.feed_id}.zip"',
    }
    inm = request.headers.get("If-None-Match")
    if inm is not None and etag_matches(inm, cache["etag"]):
        return web.Response(status=304, headers=headers)
    return web.Response(body=cache["body"], headers={**headers, "Content-Type": "application/zip"})


def setup(app: web.Application, services: Services) -> None:
    get_api_state(app, services)
    app[PUBLISHER] = get_publisher(services)
    app.router.add_get("/gtfs-rt/trip-updates", limited("gtfsrt_trip_updates", trip_updates))
    app.router.add_get("/gtfs-rt/vehicle-positions", limited("gtfsrt_vehicle_positions", vehicle_positions))
    app.router.add_get("/gtfs/static.zip", limited("gtfs_static", static_zip))
    add_link(app, "/gtfs-rt/trip-updates?format=json", "GTFS-RT 行程更新 TripUpdates (JSON view; protobuf without ?format)",
             "map apps")
    add_link(app, "/gtfs-rt/vehicle-positions?format=json",
             "GTFS-RT 车辆位置 VehiclePositions (JSON view; protobuf without ?format)", "map apps")
    add_link(app, "/gtfs/static.zip", "静态时刻表 Static GTFS (zip)", "map apps")
