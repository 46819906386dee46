"""A synthetic city for the rider API and GTFS-Realtime tests and benchmark: a schedule index
built in memory (no database) and snapshots with a chosen number of trips under way.

Line ``L{n}`` has two directions over ``stops_per_line`` stops of its own; trips leave every
``headway_s`` from ``first_s`` to ``last_s`` (05:00 to 23:00) every day, with ``run_s`` between stops and a 20 s dwell.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np

from transit.core.snapshot import CallPrediction, CallStatus, Snapshot, TripPrediction, VehicleState
from transit.schedule.build import ScheduleTables, build_index
from transit.schedule.index import ScheduleIndex
from transit.schedule.timetable import instances_between

TZ = "Asia/Shanghai"


def build_city(lines: int = 20, stops_per_line: int = 30, headway_s: int = 600, run_s: int = 90,
               feed_id: int = 1, first_s: int = 5 * 3600, last_s: int = 23 * 3600) -> ScheduleIndex:
    stop_id, stop_lat, stop_lon, stop_name = [], [], [], []
    route_id, short, long_ = [], [], []
    t_trip, t_route, t_service, t_head, t_dir, t_block = [], [], [], [], [], []
    st_trip, st_seq, st_stop, st_arr, st_dep = [], [], [], [], []
    for n in range(lines):
        route = f"L{n}"
        route_id.append(route)
        short.append(str(n + 1))
        long_.append(f"{n + 1}路")
        angle = 2 * math.pi * n / max(1, lines)
        ids = []
        for k in range(stops_per_line):
            sid = f"S{n}_{k}"
            ids.append(sid)
            stop_id.append(sid)
            stop_lat.append(36.70 + 0.0025 * k * math.sin(angle))
            stop_lon.append(117.50 + 0.0025 * k * math.cos(angle))
            stop_name.append(f"{n + 1}路第{k + 1}站")
        for direction in (0, 1):
            seq_stops = ids if direction == 0 else ids[::-1]
            for i, start in enumerate(range(first_s, last_s, headway_s)):
                trip = f"{route}_{direction}_{i}"
                t_trip.append(trip)
                t_route.append(route)
                t_service.append("ALL")
                t_head.append(stop_name[stop_id.index(seq_stops[-1])])
                t_dir.append(float(direction))
                t_block.append(None)
                for k, sid in enumerate(seq_stops):
                    arr = start + k * (run_s + 20)
                    st_trip.append(trip)
                    st_seq.append(float(k + 1))
                    st_stop.append(sid)
                    st_arr.append(float(arr))
                    st_dep.append(float(arr + (20 if 0 < k < len(seq_stops) - 1 else 0)))
    tables = ScheduleTables(
        feed_id=feed_id, timezone=TZ, agency_name="章丘公交",
        stops={"stop_id": stop_id, "stop_name": stop_name, "stop_lat": stop_lat, "stop_lon": stop_lon,
               "stop_code": [None] * len(stop_id), "parent_station": [None] * len(stop_id)},
        routes={"route_id": route_id, "route_short_name": short, "route_long_name": long_,
                "route_type": [3.0] * lines, "route_color": [None] * lines, "agency_id": [None] * lines},
        trips={"trip_id": t_trip, "route_id": t_route, "service_id": t_service, "trip_headsign": t_head,
               "direction_id": t_dir, "block_id": t_block, "shape_id": [None] * len(t_trip)},
        stop_times={"trip_id": st_trip, "stop_sequence": st_seq, "stop_id": st_stop, "arrival_s": st_arr,
                    "departure_s": st_dep, "pickup_type": [np.nan] * len(st_trip),
                    "drop_off_type": [np.nan] * len(st_trip)},
        shapes={"shape_id": [], "shape_pt_sequence": [], "shape_pt_lat": [], "shape_pt_lon": []},
        calendar=[("ALL", (1, 1, 1, 1, 1, 1, 1), dt.date(2020, 1, 1), dt.date(2035, 12, 31))],
        calendar_dates=[],
        frequencies={"trip_id": [], "start_s": [], "end_s": [], "headway_s": [], "exact_times": []},
    )
    return build_index(tables)


def running_snapshot(index: ScheduleIndex, now: float, *, version: int = 1, max_trips: int | None = None,
                     seed: int = 1, delay_s: float = 60.0, jitter_s: float = 20.0) -> Snapshot:
    """Every trip instance under way at ``now`` with a vehicle on it: real-time predictions for
    its remaining calls (schedule + a per-trip delay + noise, not necessarily monotone: the
    feed has to put that right)."""
    rng = random.Random(seed)
    trips: dict[str, TripPrediction] = {}
    vehicles: dict[str, VehicleState] = {}
    for inst in instances_between(index, now, now):
        if max_trips is not None and len(trips) >= max_trips:
            break
        t = inst.trip
        rows = index.trip_calls(t)
        delay = rng.gauss(delay_s, 60.0)
        passed = 0
        for r in range(rows.start, rows.stop):
            if inst.arrival_ts(index, r) + delay <= now:
                passed += 1
        remaining = range(rows.start + passed, rows.stop)
        if not remaining:
            continue
        calls = []
        for k, r in enumerate(remaining):
            sa = inst.arrival_ts(index, r)
            sd = inst.departure_ts(index, r)
            a = sa + delay + rng.gauss(0.0, jitter_s)
            calls.append(CallPrediction(
                stop_sequence=int(index.st_seq[r]), stop_id=index.stop_ids[int(index.st_stop[r])],
                arrival_ts=a, departure_ts=a + (sd - sa), scheduled_arrival_ts=sa, scheduled_departure_ts=sd,
                uncertainty_s=30.0 + 10.0 * k, dist_m=float(index.st_dist_m[r]), status=CallStatus.SCHEDULED,
            ))
        entity = inst.entity_id(index)
        vid = f"V{len(vehicles) + 1:05d}"
        first = index.st_stop[remaining.start]
        trips[entity] = TripPrediction(
            entity_id=entity, trip_id=index.trip_ids[t], route_id=index.route_ids[int(index.trip_route[t])],
            direction_id=int(index.trip_direction[t]), service_date=inst.service_date.strftime("%Y%m%d"),
            start_time=None, block_id=None, vehicle_id=vid, schedule_based=False, delay_s=delay,
            last_fix_ts=now - rng.uniform(0, 20), calls=tuple(calls),
        )
        vehicles[vid] = VehicleState(
            vehicle_id=vid, ts=trips[entity].last_fix_ts or now, lat=float(index.stop_lat[first]),
            lon=float(index.stop_lon[first]), label=f"鲁A·{len(vehicles):05d}", speed_mps=8.0,
            bearing_deg=90.0, trip_entity_id=entity, trip_id=index.trip_ids[t],
            route_id=index.route_ids[int(index.trip_route[t])], direction_id=int(index.trip_direction[t]),
            stop_sequence=calls[0].stop_sequence, stop_id=calls[0].stop_id,
            dist_m=max(0.0, calls[0].dist_m - 200.0), delay_s=delay, assignment="trip_id",
        )
    return Snapshot.build(version, now, index.feed_id, vehicles, trips)


# ---------------------------------------------------------------------- the tiny feed, live
TINY_DAY = dt.date(2026, 11, 27)  # a Friday: service WK runs


async def tiny_services(pool, settings, folder, clock=None):  # type: ignore[no-untyped-def]
    """Services over the tiny feed (tests/support/feeds.py), imported and loaded."""
    from feeds.gtfs import import_gtfs
    from tests.support.feeds import tiny_feed
    from transit.app.services import Services
    from transit.core.clock import ManualClock

    await import_gtfs(pool, tiny_feed(folder))
    services = Services(settings=settings, pool=pool, clock=clock or ManualClock(0.0))
    await services.schedule.reload(pool)
    return services


def call(index: ScheduleIndex, trip_id: str, stop_sequence: int, day_start: float, delay_s: float,
         uncertainty_s: float = 30.0, status: CallStatus = CallStatus.SCHEDULED) -> CallPrediction:
    """A call of ``trip_id`` predicted ``delay_s`` after its schedule."""
    t = index.find_trip(trip_id)
    assert t is not None
    rows = index.trip_calls(t)
    for r in range(rows.start, rows.stop):
        if int(index.st_seq[r]) == stop_sequence:
            sa = day_start + float(index.st_arr_s[r])
            sd = day_start + float(index.st_dep_s[r])
            return CallPrediction(stop_sequence, index.stop_ids[int(index.st_stop[r])], sa + delay_s, sd + delay_s,
                                  sa, sd, uncertainty_s, float(index.st_dist_m[r]), status)
    raise AssertionError(f"{trip_id} has no stop_sequence {stop_sequence}")


def trip(index: ScheduleIndex, trip_id: str, service_date: dt.date, calls: list[CallPrediction], *,
         vehicle_id: str | None = None, schedule_based: bool = False, delay_s: float = 0.0,
         last_fix_ts: float | None = None, canceled: bool = False, start_time: str | None = None) -> TripPrediction:
    t = index.find_trip(trip_id)
    assert t is not None
    d = int(index.trip_direction[t])
    b = int(index.trip_block[t])
    date = service_date.strftime("%Y%m%d")
    entity = f"{date}:{trip_id}" + (f":{start_time}" if start_time else "")
    return TripPrediction(entity, trip_id, index.route_ids[int(index.trip_route[t])], d if d >= 0 else None, date,
                          start_time, index.block_ids[b] if b >= 0 else None, vehicle_id, schedule_based, delay_s,
                          last_fix_ts, tuple(calls), canceled)


def tiny_snapshot(index: ScheduleIndex, now: float, version: int = 1, delay_s: float = 90.0) -> Snapshot:
    """The tiny feed at 08:02 on TINY_DAY: bus V1 on T1 (block BLK1, T2 next) heading for B,
    LOOP schedule-based, NIGHT cancelled."""
    ds = index.day_start(TINY_DAY)
    t1 = trip(index, "T1", TINY_DAY, [call(index, "T1", 2, ds, delay_s), call(index, "T1", 3, ds, delay_s + 10)],
              vehicle_id="V1", delay_s=delay_s, last_fix_ts=now - 10)
    t2 = trip(index, "T2", TINY_DAY, [call(index, "T2", k, ds, delay_s - 30) for k in (1, 2, 3)],
              vehicle_id="V1", delay_s=delay_s - 30, last_fix_ts=now - 10)
    loop = trip(index, "LOOP", TINY_DAY, [call(index, "LOOP", k, ds, 0.0) for k in (1, 2, 3, 4)],
                schedule_based=True)
    night = trip(index, "NIGHT", TINY_DAY, [], canceled=True)
    v1 = VehicleState("V1", now - 10, 36.7, 117.505, label="鲁A·12345", speed_mps=7.5, bearing_deg=90.0,
                      trip_entity_id=t1.entity_id, trip_id="T1", route_id="R1", direction_id=0, block_id="BLK1",
                      dist_m=400.0, stop_sequence=2, stop_id="B", delay_s=delay_s, assignment="block")
    return Snapshot.build(version, now, index.feed_id, {"V1": v1},
                          {t.entity_id: t for t in (t1, t2, loop, night)})


def tiny_now(index: ScheduleIndex) -> float:
    return index.day_start(TINY_DAY) + 8 * 3600 + 120


# ---------------------------------------------------------------------- replays through the tracker
def tracker_replay(index: ScheduleIndex, fixes: list, step_s: float, tracking, until_s: float = 0.0):  # type: ignore[no-untyped-def]
    """Feed recorded fixes through the real tracker in batches of ``step_s`` of simulated time,
    yielding ``(now, snapshot)`` after each batch; ``until_s`` more seconds run on without fixes
    (vehicles fall silent)."""
    from transit.tracking.tracker import Tracker, TrackerParams

    tracker = Tracker(index, TrackerParams.from_settings(tracking))
    fixes = sorted(fixes, key=lambda f: f.ts)
    i = 0
    now = fixes[0].ts
    end = fixes[-1].ts + until_s
    version = 0
    while now < end:
        now += step_s
        batch = []
        while i < len(fixes) and fixes[i].ts <= now:
            batch.append(fixes[i])
            i += 1
        tracker.apply(batch, now)
        version += 1
        yield now, tracker.snapshot(version, now)
