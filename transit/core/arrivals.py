"""Next arrivals at a stop: real-time predictions from the snapshot, the schedule for the rest.

This is what a rider's "when is my bus coming?" and a stop board's rows are made of, so the rider
API and the boards call the same pure function and can never disagree.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Collection
from dataclasses import dataclass

from transit.core.snapshot import CallStatus, Snapshot, TripPrediction, VehicleState, VehicleStatus
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import format_gtfs_date
from transit.schedule.timetable import ScheduledCall, calls_at_stop, first_last_at_stop


@dataclass(frozen=True, slots=True)
class Arrival:
    stop_id: str
    stop_sequence: int
    route_id: str
    route_short_name: str
    trip_id: str
    #: GTFS-RT entity id of the trip instance ("{service_date}:{trip_id}[:{start_time}]").
    entity_id: str
    service_date: str
    direction_id: int | None
    headsign: str
    headsign_en: str | None
    #: Predicted arrival when real-time, else the scheduled one.  POSIX seconds.
    arrival_ts: float
    departure_ts: float
    scheduled_arrival_ts: float
    #: The timetable's departure (at the first stop of a trip, when the bus leaves).
    scheduled_departure_ts: float
    realtime: bool
    #: "scheduled", "skipped" or "canceled": skipped and cancelled calls are shown, not hidden.
    status: str
    vehicle_id: str | None = None
    delay_s: float | None = None
    last_fix_ts: float | None = None
    stops_away: int | None = None
    dist_away_m: float | None = None
    uncertainty_s: float | None = None
    #: The vehicle is standing at this stop now.
    at_stop: bool = False

    def minutes_away(self, now: float) -> int:
        return max(0, int((self.arrival_ts - now) // 60))


@dataclass(frozen=True, slots=True)
class RouteSpan:
    """First and last bus of a line at a stop on the current service day, and tomorrow's first."""

    route_id: str
    route_short_name: str
    first_ts: float | None
    last_ts: float | None
    next_first_ts: float | None


def list_arrivals(
    snapshot: Snapshot,
    index: ScheduleIndex,
    stop_id: str,
    now: float,
    *,
    horizon_s: float = 5400.0,
    route_ids: Collection[str] | None = None,
    limit: int | None = None,
    stale_s: float = 180.0,
    keep_passed_s: float = 30.0,
) -> list[Arrival]:
    """Arrivals at ``stop_id`` from ``now`` to ``now + horizon_s``, soonest first.

    Raises LookupError for a stop not in the schedule.  A real-time prediction older than
    ``stale_s`` (by its last fix) gives way to the schedule.
    """
    stop = index.find_stop(stop_id)
    if stop is None:
        raise LookupError(f"unknown stop {stop_id!r}")
    wanted = set(route_ids) if route_ids else None
    out: list[Arrival] = []
    covered: set[str] = set()

    for sc in snapshot.calls_at(stop_id):
        trip, call = sc.trip, sc.call
        if wanted is not None and trip.route_id not in wanted:
            continue
        if call.arrival_ts > now + horizon_s:
            break
        stale = not trip.schedule_based and trip.last_fix_ts is not None and now - trip.last_fix_ts > stale_s
        if stale:
            continue  # the schedule pass below shows it, marked schedule-based
        covered.add(trip.entity_id)
        vehicle = snapshot.vehicles.get(trip.vehicle_id) if trip.vehicle_id else None
        on_trip = vehicle is not None and vehicle.trip_entity_id == trip.entity_id
        at_stop = bool(
            on_trip and vehicle is not None and vehicle.status == VehicleStatus.STOPPED_AT
            and vehicle.stop_sequence == call.stop_sequence
        )
        if call.departure_ts < now - keep_passed_s and not at_stop:
            continue
        away = _how_far(snapshot, index, vehicle, trip, sc.index, on_trip)
        t = index.find_trip(trip.trip_id)
        if t is not None and _is_last_call(index, t, call.stop_sequence):
            continue  # a trip ending here takes no one on board
        out.append(Arrival(
            stop_id=stop_id, stop_sequence=call.stop_sequence, route_id=trip.route_id,
            route_short_name=_route_short(index, trip.route_id), trip_id=trip.trip_id,
            entity_id=trip.entity_id, service_date=trip.service_date, direction_id=trip.direction_id,
            headsign=index.trip_headsign[t] if t is not None else "",
            headsign_en=index.trip_headsign_en[t] if t is not None else None,
            arrival_ts=call.arrival_ts, departure_ts=call.departure_ts,
            scheduled_arrival_ts=call.scheduled_arrival_ts, scheduled_departure_ts=call.scheduled_departure_ts,
            realtime=not trip.schedule_based,
            status="canceled" if trip.canceled else ("skipped" if call.status == CallStatus.SKIPPED
                                                     else "scheduled"),
            vehicle_id=trip.vehicle_id, delay_s=trip.delay_s if not trip.schedule_based else None,
            last_fix_ts=trip.last_fix_ts, stops_away=away[0], dist_away_m=away[1],
            uncertainty_s=call.uncertainty_s, at_stop=at_stop,
        ))

    for sched in scheduled_calls(index, stop, now - keep_passed_s, now + horizon_s):
        inst = sched.instance
        entity = inst.entity_id(index)
        if entity in covered:
            continue
        tracked = snapshot.trips.get(entity)
        if tracked is not None and not tracked.canceled and not _stale(tracked.last_fix_ts, tracked.schedule_based,
                                                                       now, stale_s):
            continue  # tracked, and this stop is already behind the bus
        route_id = index.route_ids[index.trip_route[inst.trip]]
        if wanted is not None and route_id not in wanted:
            continue
        if _is_last_row(index, inst.trip, sched.row) or index.st_pickup[sched.row] == 1:
            continue
        out.append(Arrival(
            stop_id=stop_id, stop_sequence=int(index.st_seq[sched.row]), route_id=route_id,
            route_short_name=index.route_short_name[index.trip_route[inst.trip]],
            trip_id=index.trip_ids[inst.trip], entity_id=entity,
            service_date=format_gtfs_date(inst.service_date),
            direction_id=_direction(index, inst.trip), headsign=index.trip_headsign[inst.trip],
            headsign_en=index.trip_headsign_en[inst.trip], arrival_ts=sched.arrival_ts,
            departure_ts=sched.departure_ts, scheduled_arrival_ts=sched.arrival_ts,
            scheduled_departure_ts=sched.departure_ts, realtime=False,
            status="canceled" if tracked is not None and tracked.canceled else "scheduled",
        ))

    out.sort(key=lambda a: (a.arrival_ts, a.route_short_name))
    return out[:limit] if limit is not None else out


def route_spans(index: ScheduleIndex, stop_id: str, now: float) -> list[RouteSpan]:
    """First/last bus today and first bus of the next service day, per line calling at the stop."""
    stop = index.find_stop(stop_id)
    if stop is None:
        raise LookupError(f"unknown stop {stop_id!r}")
    today = dt.datetime.fromtimestamp(now, index.tz).date()
    spans = []
    for route in index.routes_at_stop(stop):
        span = first_last_at_stop(index, stop, route, today)
        nxt = None
        for days in range(1, 8):
            later = first_last_at_stop(index, stop, route, today + dt.timedelta(days=days))
            if later is not None:
                nxt = later[0]
                break
        spans.append(RouteSpan(index.route_ids[route], index.route_short_name[route],
                               span[0] if span else None, span[1] if span else None, nxt))
    return spans


_HOUR = 3600.0
_SCHEDULED: weakref.WeakKeyDictionary[ScheduleIndex, dict[tuple[int, float, float], list[ScheduledCall]]] = (
    weakref.WeakKeyDictionary()
)


def scheduled_calls(index: ScheduleIndex, stop: int, t_from: float, t_to: float) -> list[ScheduledCall]:
    """:func:`calls_at_stop`, memoised per schedule index over whole hours: the timetable of a
    stop does not change between snapshots, so a stop asked for every second is computed about
    once an hour, and the window is cut out of it."""
    lo = (t_from // _HOUR) * _HOUR
    hi = -(-t_to // _HOUR) * _HOUR
    per_index = _SCHEDULED.get(index)
    if per_index is None:
        per_index = _SCHEDULED[index] = {}
    calls = per_index.get((stop, lo, hi))
    if calls is None:
        if len(per_index) >= 20_000:
            per_index.clear()
        calls = per_index[(stop, lo, hi)] = calls_at_stop(index, stop, lo, hi)
    return [c for c in calls if t_from <= c.arrival_ts <= t_to]


def _how_far(
    snapshot: Snapshot, index: ScheduleIndex, vehicle: VehicleState | None, trip: TripPrediction, k: int,
    on_trip: bool,
) -> tuple[int | None, float | None]:
    """Stops and metres between the vehicle and call ``k`` of ``trip``: along its current trip,
    or, for a later trip of its block, the rest of the current trip and of any trip between."""
    if vehicle is None or vehicle.dist_m is None:
        return (k if on_trip else None), None
    call = trip.calls[k]
    if on_trip:
        return k, max(0.0, call.dist_m - vehicle.dist_m)
    chain = snapshot.derived("arrivals.trips_by_vehicle", _trips_by_vehicle).get(vehicle.vehicle_id, [])
    ids = [t.entity_id for t in chain]
    if vehicle.trip_entity_id not in ids or trip.entity_id not in ids:
        return None, None
    first, last = ids.index(vehicle.trip_entity_id), ids.index(trip.entity_id)
    if last <= first:
        return None, None
    stops, dist = k, call.dist_m
    for i, t in enumerate(chain[first:last]):
        stops += len(t.calls)
        t_index = index.find_trip(t.trip_id)
        if t_index is None:
            return None, None
        length = float(index.trip_length_m[t_index])
        dist += max(0.0, length - vehicle.dist_m) if i == 0 else length
    return stops, dist


def _trips_by_vehicle(snapshot: Snapshot) -> dict[str, list[TripPrediction]]:
    """Each vehicle's trips in the snapshot, in the order it will run them."""
    out: dict[str, list[TripPrediction]] = {}
    for t in snapshot.trips.values():
        if t.vehicle_id and t.calls:
            out.setdefault(t.vehicle_id, []).append(t)
    for trips in out.values():
        trips.sort(key=lambda t: t.calls[0].arrival_ts)
    return out


def _stale(last_fix_ts: float | None, schedule_based: bool, now: float, stale_s: float) -> bool:
    return not schedule_based and last_fix_ts is not None and now - last_fix_ts > stale_s


def _route_short(index: ScheduleIndex, route_id: str) -> str:
    r = index.find_route(route_id)
    return index.route_short_name[r] if r is not None else route_id


def _direction(index: ScheduleIndex, trip: int) -> int | None:
    d = int(index.trip_direction[trip])
    return d if d >= 0 else None


def _is_last_row(index: ScheduleIndex, trip: int, row: int) -> bool:
    return row == int(index.trip_st_start[trip + 1]) - 1


def _is_last_call(index: ScheduleIndex, trip: int, stop_sequence: int) -> bool:
    last = int(index.trip_st_start[trip + 1]) - 1
    return last >= 0 and int(index.st_seq[last]) == stop_sequence
