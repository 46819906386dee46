"""The body of ``GET /api/v1/stops/{stop_id}/arrivals``: next arrivals, soonest first and by line.

Pure: the snapshot, the schedule index and ``now`` in, a JSON-ready dict out.  The rows come from
:func:`transit.core.arrivals.list_arrivals`, the function the stop boards use too, so a rider's
phone and the board at the stop always agree.

The body holds nothing that changes without the arrivals changing (no "generated at"), so its
ETag and the live stream's change detection follow what a rider sees.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Collection
from typing import Any

from transit.api.network_json import stop_summary
from transit.api.timefmt import iso, service_date_iso, zone
from transit.core.arrivals import Arrival, RouteSpan, list_arrivals, route_spans
from transit.core.snapshot import Snapshot
from transit.schedule.index import ScheduleIndex

DEFAULT_MINUTES = 90
MAX_MINUTES = 24 * 60
DEFAULT_LIMIT = 10
MAX_LIMIT = 200
DEFAULT_PER_LINE = 3


def arrival_json(a: Arrival, now: float, tz: dt.tzinfo) -> dict[str, Any]:
    return {
        "route_id": a.route_id,
        "route_short_name": a.route_short_name,
        "trip_id": a.trip_id,
        "service_date": service_date_iso(a.service_date),
        "direction_id": a.direction_id,
        "stop_sequence": a.stop_sequence,
        "headsign": {"zh": a.headsign, "en": a.headsign_en},
        "arrival": iso(a.arrival_ts, tz),
        "predicted_arrival": iso(a.arrival_ts, tz) if a.realtime else None,
        "scheduled_arrival": iso(a.scheduled_arrival_ts, tz),
        "departure": iso(a.departure_ts, tz),
        "predicted_departure": iso(a.departure_ts, tz) if a.realtime else None,
        "scheduled_departure": iso(a.scheduled_departure_ts, tz),
        "minutes_away": a.minutes_away(now),
        "stops_away": a.stops_away,
        "distance_away_m": round(a.dist_away_m) if a.dist_away_m is not None else None,
        "realtime": a.realtime,
        "status": a.status,
        "at_stop": a.at_stop,
        "vehicle_id": a.vehicle_id,
        "schedule_deviation_s": round(a.delay_s) if a.delay_s is not None else None,
        "uncertainty_s": round(a.uncertainty_s) if a.uncertainty_s is not None and a.realtime else None,
        "last_fix": iso(a.last_fix_ts, tz) if a.realtime else None,
    }


def _line_json(index: ScheduleIndex, span: RouteSpan, tz: dt.tzinfo) -> dict[str, Any]:
    r = index.find_route(span.route_id)
    return {
        "route_id": span.route_id,
        "route_short_name": span.route_short_name,
        "route_long_name": {"zh": index.route_long_name[r] if r is not None else "",
                            "en": index.route_long_name_en[r] if r is not None else None},
        "route_color": index.route_color[r] if r is not None else None,
        "first_bus": iso(span.first_ts, tz),
        "last_bus": iso(span.last_ts, tz),
        "next_first_bus": iso(span.next_first_ts, tz),
        "arrivals": [],
    }


def arrivals_payload(
    snapshot: Snapshot, index: ScheduleIndex, stop_id: str, now: float, *,
    route_ids: Collection[str] | None = None, limit: int = DEFAULT_LIMIT, minutes: int = DEFAULT_MINUTES,
    per_line: int = DEFAULT_PER_LINE, stale_s: float = 180.0,
) -> dict[str, Any]:
    """Arrivals at the stop within ``minutes``: the ``limit`` soonest overall, and per line the
    ``per_line`` soonest with the line's first and last bus at this stop.  LookupError: unknown stop."""
    stop = index.find_stop(stop_id)
    if stop is None:
        raise LookupError(f"unknown stop {stop_id!r}")
    tz = zone(index.timezone)
    rows = list_arrivals(snapshot, index, stop_id, now, horizon_s=minutes * 60.0, route_ids=route_ids,
                         stale_s=stale_s)
    lines: dict[str, dict[str, Any]] = {}
    for span in route_spans_cached(index, stop_id, now):
        if route_ids and span.route_id not in route_ids:
            continue
        lines[span.route_id] = _line_json(index, span, tz)
    everything: list[dict[str, Any]] = []
    for a in rows:
        line = lines.get(a.route_id)
        wanted_by_line = line is not None and len(line["arrivals"]) < per_line
        if len(everything) >= limit and not wanted_by_line:
            continue  # formatted only if shown: most rows of a busy stop are not
        item = arrival_json(a, now, tz)
        if len(everything) < limit:
            everything.append(item)
        if wanted_by_line:
            line["arrivals"].append(item)  # type: ignore[index]
    return {
        "stop": stop_summary(index, stop),
        "minutes": minutes,
        "limit": limit,
        "per_line": per_line,
        "arrivals": everything,
        "lines": sorted(lines.values(), key=lambda line: _natural(line["route_short_name"])),
    }


_SPANS: weakref.WeakKeyDictionary[ScheduleIndex, dict[tuple[str, dt.date], list[RouteSpan]]] = (
    weakref.WeakKeyDictionary()
)


def route_spans_cached(index: ScheduleIndex, stop_id: str, now: float) -> list[RouteSpan]:
    """First and last buses change once a day: computed once per stop and local date."""
    day = dt.datetime.fromtimestamp(now, zone(index.timezone)).date()
    per_index = _SPANS.get(index)
    if per_index is None:
        per_index = _SPANS[index] = {}
    spans = per_index.get((stop_id, day))
    if spans is None:
        if len(per_index) > 50_000:
            per_index.clear()
        spans = per_index[(stop_id, day)] = route_spans(index, stop_id, now)
    return spans


def _natural(name: str) -> tuple[int, int, str]:
    """Line 2 before line 10; named lines after numbered ones."""
    digits = "".join(ch for ch in name if ch.isdigit())
    return (0, int(digits), name) if digits and name[0].isdigit() else (1, 0, name)
