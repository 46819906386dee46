"""Arrival and departure detection between two matched fixes.

A call is reached when the vehicle's progress comes within ``zone_m`` of the stop's distance
along the shape.  Between fixes the time is worked out from distances:

* ``interpolated``: the vehicle passed the stop between two fixes, both outside its zone; the
  time between the fixes is shared out as the timetable shares it (its scheduled dwells and
  slow stretches; calls it gives one time spread by distance, ``row_clock_arr_s``), which on
  sparse AVL is closer to the truth than constant speed;
* ``at_stop``: a fix fell inside the zone; arrival is ``ZONE_ELAPSED_S`` before that fix (a
  bus seen standing at a stop got there a while before), but not before it could have got there
  at cruising speed from the fix before; departure likewise ``ZONE_ELAPSED_S`` after the last
  fix inside the zone, but not after it must have left to cruise to the first fix beyond;
* ``first_stop``: departure from the first stop of a trip (the arrival there is the end of a
  layover, not a prediction target), as ``at_stop`` but not before the scheduled departure;
* ``last_stop``: arrival at the last stop, recorded as soon as the vehicle is in its zone (a
  wider one: buses end their trip at a stand short of the last stop), when it could have got
  there at cruising speed (at the end of the line it stands from then).

The method is stored with each event so that the accuracy figures and the models can weigh
them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transit.schedule.index import ScheduleIndex
from transit.tracking.network import TrackingNetwork
from transit.tracking.vehicle import VehicleTrack

#: Below this, the average speed between two fixes means the bus stood somewhere in between.
CRUISE_FLOOR_MPS = 5.0
#: A fix that sees a bus in a stop's zone sees it, on average, this long after it got there and
#: this long before it leaves (half a usual dwell, plus slowing into the zone).  With fixes minutes
#: apart, reaching the stop at cruising speed right after the fix before (and leaving just in
#: time to cruise to the fix after) put arrivals 50-60 s early and departures 30-55 s late, both
#: against the simulator's truth and on WMATA's 30 s AVL thinned to one fix in 4 minutes (scored
#: against the calls detected from every fix).  Bounded by those cruising times, so dense fixes
#: are unchanged.  Not at the last stop, where a bus stands from when it got there.
ZONE_ELAPSED_S = 20.0


@dataclass(frozen=True, slots=True)
class ArrivalEvent:
    vehicle_id: str
    feed_id: int
    service_date: dt.date
    trip_id: str
    start_time: str  # HH:MM:SS for frequency-based instances, '' otherwise
    route_id: str
    stop_id: str
    stop_sequence: int
    arrival_ts: float  # NaN when not observed (the first stop of a trip)
    departure_ts: float  # NaN at the last stop
    scheduled_arrival_ts: float
    scheduled_departure_ts: float
    method: str
    dist_m: float
    #: In-process only: stop-time row, the instance serial (joins predictions to actuals) and
    #: the day type the models learn under.
    row: int
    serial: int
    day_type: int
    #: A timepoint inside the trip, where buses wait for their time (stored with the event:
    #: the history loaded at start counts the next link from that time, as the tracker does).
    timepoint: bool = False


def _event(ix: ScheduleIndex, hold: NDArray[np.bool_], v: VehicleTrack, row: int, arr: float, dep: float,
           method: str) -> ArrivalEvent:
    inst = v.inst
    assert inst is not None
    start_time = inst.start_time(ix) if inst.frequency else ""
    return ArrivalEvent(
        vehicle_id=v.vehicle_id, feed_id=ix.feed_id, service_date=inst.service_date,
        trip_id=ix.trip_ids[v.trip], start_time=start_time,
        route_id=ix.route_ids[ix.trip_route[v.trip]], stop_id=ix.stop_ids[ix.st_stop[row]],
        stop_sequence=int(ix.st_seq[row]), arrival_ts=arr, departure_ts=dep,
        scheduled_arrival_ts=inst.arrival_ts(ix, row), scheduled_departure_ts=inst.departure_ts(ix, row),
        method=method, dist_m=float(ix.st_dist_m[row]), row=row, serial=v.serial, day_type=v.day_type,
        timepoint=bool(hold[row]),
    )


def _sched_clock(net: TrackingNetwork, first_row: int, last_row: int, d: float) -> float:
    """The timetable's seconds at distance ``d`` along the trip: between calls it runs from one
    call's departure to the next call's arrival (``TrackingNetwork.row_clock_arr_s``: calls the
    timetable gives one time are spread out)."""
    dist = net.index.st_dist_m
    arr, dep = net.row_clock_arr_s, net.row_clock_dep_s
    k = first_row + int(np.searchsorted(dist[first_row:last_row + 1], d, side="left"))
    if k <= first_row:
        return float(dep[first_row])
    if k > last_row:
        return float(arr[last_row])
    s0, s1 = float(dist[k - 1]), float(dist[k])
    frac = (d - s0) / (s1 - s0) if s1 > s0 else 1.0
    return float(dep[k - 1]) + frac * float(arr[k] - dep[k - 1])


def _crossing(
    net: TrackingNetwork, first_row: int, last_row: int, r: int, t0: float, d0: float, t1: float, d1: float
) -> tuple[float, float]:
    """Arrival and departure at call ``r``, passed between two fixes.  The time between the fixes
    is shared out the way the timetable shares it (a stop with a long scheduled dwell, a slow
    stretch), not evenly by distance; where the timetable has no time between the two places,
    by distance."""
    dt_s = t1 - t0
    c0 = _sched_clock(net, first_row, last_row, d0)
    c1 = _sched_clock(net, first_row, last_row, d1)
    if c1 - c0 >= 1.0:
        scale = dt_s / (c1 - c0)
        arr = t0 + (float(net.row_clock_arr_s[r]) - c0) * scale
        dep = t0 + (float(net.row_clock_dep_s[r]) - c0) * scale
        return min(max(arr, t0), t1), min(max(dep, t0), t1)
    span = d1 - d0
    t = t0 + (float(net.index.st_dist_m[r]) - d0) / span * dt_s if span > 0 else t1
    return t, t


def _left_zone(
    ix: ScheduleIndex, v: VehicleTrack, r: int, first_row: int, t0: float, t1: float, d1: float, s: float,
    span: float, cruise: float,
) -> float:
    """When a bus last seen in the zone of call ``r`` at ``t0``, and at ``d1`` beyond it at ``t1``,
    left the stop: about a usual dwell after ``t0`` (from the first stop of a trip, where it waited
    for its time, not before that time), but not after it must have left to cruise to ``d1``."""
    latest = max(t0, t1 - (d1 - s) / cruise) if span > 0 else t1
    soonest = t0 + ZONE_ELAPSED_S
    if r == first_row:
        assert v.inst is not None
        soonest = max(soonest, v.inst.departure_ts(ix, r))
    return max(t0, min(latest, soonest))


def detect_calls(
    net: TrackingNetwork,
    v: VehicleTrack,
    t0: float,
    d0: float,
    t1: float,
    d1: float,
    first_row: int,
    last_row: int,
    zone_m: float,
    out: list[ArrivalEvent],
    last_zone_m: float = 100.0,
) -> bool:
    """Advance ``v.next_row`` past the calls reached between (t0, d0) and (t1, d1), appending
    their events to ``out``.  Returns True when the last call of the trip was reached."""
    ix = net.index
    hold = net.row_hold
    st_dist = ix.st_dist_m
    r = v.next_row
    span = d1 - d0
    dt_s = t1 - t0
    avg = span / dt_s if dt_s > 0 else 0.0
    cruise = max(avg, CRUISE_FLOOR_MPS, v.speed_est)
    while r <= last_row:
        s = float(st_dist[r])
        if v.zone_row == r:
            if r == last_row:
                return True  # already recorded when it entered the zone
            if d1 <= s + zone_m:
                return False  # still standing there
            dep = _left_zone(ix, v, r, first_row, t0, t1, d1, s, span, cruise)
            arr = v.zone_arr_ts
            method = "first_stop" if r == first_row else v.zone_method
            out.append(_event(ix, hold, v, r, math.nan if r == first_row else arr, dep, method))
            v.dep_row, v.dep_ts = r, dep
            v.zone_row = -1
            r += 1
            v.next_row = r
            continue
        if r == last_row and d1 >= s - last_zone_m and d1 < s - zone_m:
            # the end of the line: buses stop short of the last stop's pole, at a stand
            s = d1 + zone_m * 0.5
        if d1 < s - zone_m:
            return False
        # reached the zone of call r (or beyond) between the two fixes
        if d1 > s + zone_m:
            if d0 < s - zone_m:  # passed through between the fixes
                arr, dep = _crossing(net, first_row, last_row, r, t0, d0, t1, d1)
                method = "interpolated"
            else:  # was inside when first matched: only the departure is seen
                arr, dep = math.nan, _left_zone(ix, v, r, first_row, t0, t1, d1, s, span, cruise)
                method = "passed"
            if r == first_row:
                arr, method = math.nan, "first_stop"
            out.append(_event(ix, hold, v, r, arr, dep, method))
            v.dep_row, v.dep_ts = r, dep
            r += 1
            v.next_row = r
            continue
        arr = math.nan if d0 >= s - zone_m else min(t1, t0 + (min(s, d1) - d0) / cruise)
        if r != last_row:  # (at the end of the line the bus stands from when it got there)
            arr = max(arr, t1 - ZONE_ELAPSED_S)
        # inside the zone now
        v.zone_row = r
        v.zone_arr_ts = arr
        v.zone_method = "at_stop"
        if r == last_row:
            out.append(_event(ix, hold, v, r, arr if not math.isnan(arr) else t1, math.nan, "last_stop"))
            return True
        return False
    return True
