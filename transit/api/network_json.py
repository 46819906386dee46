"""Stops and routes as the rider API shows them: pure functions of the schedule index.

These change only when a new feed version is activated, so the handlers memoise them per index
object; nothing here reads the snapshot.
"""

from __future__ import annotations

import weakref
from collections import Counter
from typing import Any

import numpy as np

from transit.schedule.geometry import haversine_m
from transit.schedule.index import ScheduleIndex

MAX_RADIUS_M = 10_000.0
DEFAULT_RADIUS_M = 500.0
DEFAULT_STOP_LIMIT = 100
MAX_STOP_LIMIT = 10_000

_ROUTES_AT: weakref.WeakKeyDictionary[ScheduleIndex, dict[int, list[int]]] = weakref.WeakKeyDictionary()


def routes_at(index: ScheduleIndex, stop: int) -> list[int]:
    per_index = _ROUTES_AT.get(index)
    if per_index is None:
        per_index = _ROUTES_AT[index] = {}
    routes = per_index.get(stop)
    if routes is None:
        routes = per_index[stop] = index.routes_at_stop(stop)
    return routes


def stop_summary(index: ScheduleIndex, s: int) -> dict[str, Any]:
    return {
        "stop_id": index.stop_ids[s],
        "stop_code": index.stop_code[s],
        "name": {"zh": index.stop_name[s], "en": index.stop_name_en[s]},
        "lat": round(float(index.stop_lat[s]), 7),
        "lon": round(float(index.stop_lon[s]), 7),
    }


def route_summary(index: ScheduleIndex, r: int) -> dict[str, Any]:
    return {
        "route_id": index.route_ids[r],
        "route_short_name": index.route_short_name[r],
        "route_long_name": {"zh": index.route_long_name[r], "en": index.route_long_name_en[r]},
        "route_type": int(index.route_type[r]),
        "route_color": index.route_color[r],
        "agency_id": index.route_agency[r],
    }


def stop_detail(index: ScheduleIndex, s: int) -> dict[str, Any]:
    """A stop, its parent station and the lines that call there (with their headsigns)."""
    rows = index.stop_calls(s)
    trips = index.st_trip[rows]
    lines = []
    for r in routes_at(index, s):
        on_route = trips[index.trip_route[trips] == r]
        heads = Counter(index.trip_headsign[int(t)] for t in np.unique(on_route))
        dirs = sorted({int(d) for d in index.trip_direction[on_route] if d >= 0})
        lines.append({**route_summary(index, r), "headsigns": [h for h, _ in heads.most_common()],
                      "direction_ids": dirs})
    stop_id = index.stop_ids[s]
    return {
        **stop_summary(index, s),
        "parent_station": index.stop_parent[s],
        "routes": lines,
        "arrivals_url": f"/api/v1/stops/{stop_id}/arrivals",
    }


def list_stops(
    index: ScheduleIndex, *, near: tuple[float, float] | None = None, radius_m: float = DEFAULT_RADIUS_M,
    q: str | None = None, limit: int = DEFAULT_STOP_LIMIT,
) -> dict[str, Any]:
    """Stops within ``radius_m`` of ``near`` (nearest first), or whose name or id holds ``q``,
    or all stops (by id); at most ``limit``."""
    candidates = np.arange(len(index.stop_ids))
    dist = None
    if near is not None:
        d = haversine_m(near[0], near[1], index.stop_lat, index.stop_lon)
        inside = np.flatnonzero(d <= radius_m)
        candidates = inside[np.argsort(d[inside], kind="stable")]
        dist = d
    if q:
        needle = q.casefold()
        candidates = np.array([
            s for s in candidates
            if needle in index.stop_name[s].casefold() or needle in index.stop_ids[s].casefold()
            or (index.stop_name_en[s] or "").casefold().find(needle) >= 0
        ], dtype=np.int64)
    total = len(candidates)
    out = []
    for s in candidates[:limit]:
        item = stop_summary(index, int(s))
        if dist is not None:
            item["distance_m"] = round(float(dist[s]), 1)
        item["routes"] = [index.route_short_name[r] for r in routes_at(index, int(s))]
        out.append(item)
    return {"count": len(out), "total": total, "stops": out}


def list_routes(index: ScheduleIndex) -> dict[str, Any]:
    return {"routes": [route_summary(index, r) for r in range(len(index.route_ids))]}


def route_detail(index: ScheduleIndex, r: int, with_shape: bool = True) -> dict[str, Any]:
    """The route with, per direction, the stop pattern most of its trips follow."""
    trips = np.flatnonzero(index.trip_route == r)
    by_direction: dict[int, list[int]] = {}
    for trip in trips:
        by_direction.setdefault(int(index.trip_direction[trip]), []).append(int(trip))
    directions = []
    for direction in sorted(by_direction):
        members = by_direction[direction]
        patterns: Counter[tuple[int, ...]] = Counter()
        example: dict[tuple[int, ...], int] = {}
        for member in members:
            pattern = tuple(int(s) for s in index.st_stop[index.trip_calls(member)])
            patterns[pattern] += 1
            example.setdefault(pattern, member)
        pattern, count = patterns.most_common(1)[0]
        t = example[pattern]
        rows = index.trip_calls(t)
        stops = [
            {**stop_summary(index, int(index.st_stop[row])), "stop_sequence": int(index.st_seq[row]),
             "distance_m": round(float(index.st_dist_m[row]), 1)}
            for row in range(rows.start, rows.stop)
        ]
        item: dict[str, Any] = {
            "direction_id": direction if direction >= 0 else None,
            "headsign": {"zh": index.trip_headsign[t], "en": index.trip_headsign_en[t]},
            "trips": len(members),
            "patterns": len(patterns),
            "trips_on_main_pattern": count,
            "stops": stops,
        }
        if with_shape:
            pts = index.shape_points(int(index.trip_shape[t]))
            item["shape"] = [[round(float(a), 6), round(float(b), 6)]
                             for a, b in zip(index.shape_lat[pts], index.shape_lon[pts], strict=True)]
        directions.append(item)
    return {**route_summary(index, r), "directions": directions}
