"""Vehicles and trips as the rider API shows them: pure functions of a snapshot and the schedule.

A trip is shown stop by stop: the calls still ahead carry the prediction, the calls behind the
bus say ``passed``.  A real-time prediction whose newest fix is older than the stale limit is
shown as schedule-based, the same rule the arrivals and the GTFS-Realtime feed apply.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from transit.api.network_json import stop_summary
from transit.api.timefmt import iso, service_date_iso, zone
from transit.core.snapshot import CallPrediction, Snapshot, TripPrediction, VehicleState
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import format_gtfs_date, format_gtfs_time, parse_gtfs_date
from transit.schedule.timetable import TripInstance, instances_between


def _trip_header(index: ScheduleIndex, t: int) -> dict[str, Any]:
    r = int(index.trip_route[t])
    d = int(index.trip_direction[t])
    b = int(index.trip_block[t])
    return {
        "trip_id": index.trip_ids[t],
        "route_id": index.route_ids[r],
        "route_short_name": index.route_short_name[r],
        "direction_id": d if d >= 0 else None,
        "headsign": {"zh": index.trip_headsign[t], "en": index.trip_headsign_en[t]},
        "block_id": index.block_ids[b] if b >= 0 else None,
    }


def vehicle_json(snapshot: Snapshot, index: ScheduleIndex, v: VehicleState, *, next_stops: int = 0) -> dict[str, Any]:
    tz = zone(index.timezone)
    trip_json = None
    trip = snapshot.trips.get(v.trip_entity_id) if v.trip_entity_id else None
    t = index.find_trip(v.trip_id) if v.trip_id else None
    if t is not None:
        trip_json = {**_trip_header(index, t),
                     "service_date": service_date_iso(trip.service_date) if trip else None,
                     "start_time": trip.start_time if trip else None}
    s = index.find_stop(v.stop_id) if v.stop_id else None
    delay = v.delay_s if v.delay_s is not None else (
        trip.delay_s if trip is not None and not trip.schedule_based else None)
    out: dict[str, Any] = {
        "vehicle_id": v.vehicle_id,
        "label": v.label,
        "lat": round(v.lat, 7),
        "lon": round(v.lon, 7),
        "bearing_deg": round(v.bearing_deg, 1) if v.bearing_deg is not None else None,
        "speed_mps": round(v.speed_mps, 2) if v.speed_mps is not None else None,
        "last_fix": iso(v.ts, tz),
        "status": str(v.status),
        "stop_id": v.stop_id,
        "stop_sequence": v.stop_sequence,
        "stop_name": {"zh": index.stop_name[s], "en": index.stop_name_en[s]} if s is not None else None,
        "schedule_deviation_s": round(delay) if delay is not None else None,
        "off_route": v.off_route,
        "assignment": v.assignment,
        "trip": trip_json,
    }
    if next_stops:
        out["next_stops"] = ([] if trip is None else
                             [_call_json(index, c, tz, realtime=not trip.schedule_based)
                              for c in trip.calls[:next_stops]])
    return out


def route_vehicles(snapshot: Snapshot, index: ScheduleIndex, route_id: str) -> dict[str, Any]:
    vehicles = [vehicle_json(snapshot, index, v) for _, v in sorted(snapshot.vehicles.items())
                if v.route_id == route_id]
    return {"route_id": route_id, "count": len(vehicles), "vehicles": vehicles}


def _call_json(index: ScheduleIndex, c: CallPrediction, tz: dt.tzinfo, *, realtime: bool) -> dict[str, Any]:
    s = index.find_stop(c.stop_id)
    return {
        "stop_sequence": c.stop_sequence,
        "stop_id": c.stop_id,
        "stop_name": {"zh": index.stop_name[s], "en": index.stop_name_en[s]} if s is not None else None,
        "scheduled_arrival": iso(c.scheduled_arrival_ts, tz),
        "scheduled_departure": iso(c.scheduled_departure_ts, tz),
        "predicted_arrival": iso(c.arrival_ts, tz) if realtime else None,
        "predicted_departure": iso(c.departure_ts, tz) if realtime else None,
        "uncertainty_s": round(c.uncertainty_s) if realtime else None,
        "status": str(c.status),
    }


def find_trip_instances(snapshot: Snapshot, trip_id: str) -> list[TripPrediction]:
    """The snapshot's instances of ``trip_id`` (memoised per snapshot)."""
    by_trip = snapshot.derived("api.trips_by_id", _index_trips)
    return by_trip.get(trip_id, [])


def _index_trips(snapshot: Snapshot) -> dict[str, list[TripPrediction]]:
    out: dict[str, list[TripPrediction]] = {}
    for trip in snapshot.trips.values():
        out.setdefault(trip.trip_id, []).append(trip)
    for trips in out.values():
        trips.sort(key=lambda tp: (tp.service_date, tp.start_time or ""))
    return out


def _pick_instance(index: ScheduleIndex, t: int, now: float, service_date: dt.date | None,
                   start_time: str | None) -> TripInstance | None:
    """The instance asked for, else the one running now, else the next, else the last one."""
    if service_date is not None:
        start = index.day_start(service_date)
        found = [i for i in instances_between(index, start, start + 2 * 86400, np.array([t])) if i.service_date == service_date]
    else:
        found = instances_between(index, now - 86400, now + 7 * 86400, np.array([t]))
    if start_time is not None:
        found = [i for i in found if i.start_time(index) == start_time]
    if not found:
        return None
    for inst in found:
        if inst.end_ts >= now:
            return inst
    return found[-1]


def trip_payload(
    snapshot: Snapshot, index: ScheduleIndex, trip_id: str, now: float, *, stale_s: float,
    service_date: str | None = None, start_time: str | None = None,
) -> dict[str, Any]:
    """Stop-by-stop view of one trip instance.  LookupError: the trip is not in the schedule."""
    t = index.find_trip(trip_id)
    if t is None:
        raise LookupError(f"unknown trip {trip_id!r}")
    tz = zone(index.timezone)
    day = parse_gtfs_date(service_date.replace("-", "")) if service_date else None
    candidates = [tp for tp in find_trip_instances(snapshot, trip_id)
                  if (day is None or tp.service_date == format_gtfs_date(day))
                  and (start_time is None or tp.start_time == start_time)]
    prediction = candidates[0] if candidates else None
    if prediction is not None:
        day = parse_gtfs_date(prediction.service_date)
        start_time = prediction.start_time
    inst = _pick_instance(index, t, now, day, start_time)
    stale = prediction is not None and (not prediction.schedule_based and prediction.last_fix_ts is not None
                                        and now - prediction.last_fix_ts > stale_s)
    realtime = prediction is not None and not prediction.schedule_based and not stale
    ahead = {c.stop_sequence: c for c in prediction.calls} if prediction is not None else {}
    first_ahead = min(ahead) if ahead else None
    rows = index.trip_calls(t)
    stops = []
    for row in range(rows.start, rows.stop):
        seq = int(index.st_seq[row])
        s = int(index.st_stop[row])
        sched_arr = inst.arrival_ts(index, row) if inst is not None else None
        sched_dep = inst.departure_ts(index, row) if inst is not None else None
        call = ahead.get(seq)
        if prediction is not None and prediction.canceled:
            status = "canceled"
        elif call is not None:
            status = str(call.status)
        elif realtime and first_ahead is not None and seq < first_ahead:
            status = "passed"
        else:
            status = "scheduled"
        show = call is not None and realtime
        stops.append({
            **stop_summary(index, s),
            "stop_sequence": seq,
            "scheduled_time": format_gtfs_time(int(index.st_arr_s[row])),
            "scheduled_arrival": iso(sched_arr, tz),
            "scheduled_departure": iso(sched_dep, tz),
            "predicted_arrival": iso(call.arrival_ts, tz) if show and call else None,
            "predicted_departure": iso(call.departure_ts, tz) if show and call else None,
            "uncertainty_s": round(call.uncertainty_s) if show and call else None,
            "distance_m": round(float(index.st_dist_m[row]), 1),
            "status": status,
        })
    return {
        **_trip_header(index, t),
        "service_date": (service_date_iso(prediction.service_date) if prediction is not None
                         else service_date_iso(format_gtfs_date(inst.service_date)) if inst is not None else None),
        "start_time": (prediction.start_time if prediction is not None and prediction.start_time
                       else inst.start_time(index) if inst is not None else None),
        "realtime": realtime,
        "stale": stale,
        "canceled": bool(prediction is not None and prediction.canceled),
        "vehicle_id": prediction.vehicle_id if prediction is not None else None,
        "schedule_deviation_s": round(prediction.delay_s) if realtime and prediction is not None else None,
        "last_fix": iso(prediction.last_fix_ts, tz) if prediction is not None else None,
        "stops": stops,
    }
