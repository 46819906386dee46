"""Which trips and vehicles of a snapshot go into the GTFS-Realtime feeds, and how each is marked.

Pure: a snapshot, the schedule index and ``now`` in, plain values out.  The rules follow the
GTFS-Realtime reference and the public validator (rule ids in brackets):

* A trip whose ``trip_id`` is not in the active static feed is left out [E003]; its route is the
  one the static feed gives [E004], and so is its ``direction_id`` [E024].
* A real-time trip whose newest fix is older than ``stale_s`` is left out: stale predictions do
  more harm to a rider than none (the consumer falls back to the schedule).
* A trip with no real-time evidence (``schedule_based``) stays in the feed, marked: one
  StopTimeUpdate with ``schedule_relationship = NO_DATA`` at its next stop.  The reference
  defines NO_DATA as "no real-time information for this stop", and a NO_DATA as the last update
  leaves every later stop unspecified too, so a consumer shows the static times as scheduled
  times.  Sending the schedule as predicted times, or ``delay = 0``, would instead claim the bus
  is known to be on time.
* A cancelled trip is sent with ``TripDescriptor.schedule_relationship = CANCELED`` and no stop
  updates.
* Frequency-based trips with ``exact_times = 0`` are UNSCHEDULED, with UNSCHEDULED stop updates
  [E013]; without real-time data such a trip has no times at all, so it is left out.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum

from transit.core.snapshot import Snapshot, TripPrediction, VehicleState
from transit.schedule.index import ScheduleIndex


class TripMode(IntEnum):
    REALTIME = 0
    SCHEDULE_BASED = 1
    CANCELED = 2


@dataclass(frozen=True, slots=True)
class SelectedTrip:
    trip: TripPrediction
    trip_index: int  # into the schedule index
    mode: TripMode
    #: A frequency-based trip with exact_times = 0: no schedule to be relative to.
    unscheduled: bool


@dataclass(frozen=True, slots=True)
class SelectedVehicle:
    vehicle: VehicleState
    #: The vehicle's trip, when it is in the static feed and in the TripUpdates feed.
    trip: SelectedTrip | None
    #: Current stop, when it matches the static stop_times of that trip.
    stop_sequence: int | None
    stop_id: str | None


@dataclass
class Selection:
    trips: list[SelectedTrip] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


def is_unscheduled(index: ScheduleIndex, trip: int) -> bool:
    """A frequency-based trip any of whose windows has ``exact_times = 0``."""
    rows = index.trip_frequencies(trip)
    return rows.stop > rows.start and not bool(index.freq_exact[rows].all())


def is_stale(trip: TripPrediction, now: float, stale_s: float) -> bool:
    return (not trip.schedule_based and not trip.canceled and trip.last_fix_ts is not None
            and now - trip.last_fix_ts > stale_s)


def select_trips(snapshot: Snapshot, index: ScheduleIndex, now: float, stale_s: float) -> Selection:
    """The trips of the TripUpdates feed, in a stable order (by entity id)."""
    out = Selection()
    for entity_id in sorted(snapshot.trips):
        trip = snapshot.trips[entity_id]
        t = index.find_trip(trip.trip_id)
        if t is None:
            out.dropped["unknown_trip"] += 1
            continue
        unscheduled = is_unscheduled(index, t)
        if trip.canceled:
            mode = TripMode.CANCELED
        elif trip.schedule_based:
            if unscheduled:
                out.dropped["unscheduled_without_data"] += 1
                continue
            mode = TripMode.SCHEDULE_BASED
        else:
            if is_stale(trip, now, stale_s):
                out.dropped["stale"] += 1
                continue
            mode = TripMode.REALTIME
        if mode != TripMode.CANCELED and not trip.calls:
            out.dropped["no_calls"] += 1
            continue
        out.trips.append(SelectedTrip(trip, t, mode, unscheduled))
    return out


def select_vehicles(
    snapshot: Snapshot, index: ScheduleIndex, now: float, vehicle_stale_s: float,
    trips: dict[str, SelectedTrip],
) -> tuple[list[SelectedVehicle], Counter[str]]:
    """The vehicles of the VehiclePositions feed, in a stable order (by vehicle id).

    ``trips`` are the trips of the TripUpdates feed built from the same snapshot, by entity id: a
    vehicle names its trip only when that trip is in the TripUpdates feed too, so the two feeds
    never disagree about what a vehicle is doing [W003].
    """
    dropped: Counter[str] = Counter()
    out: list[SelectedVehicle] = []
    for vehicle_id in sorted(snapshot.vehicles):
        v = snapshot.vehicles[vehicle_id]
        if now - v.ts > vehicle_stale_s:
            dropped["stale"] += 1
            continue
        if not (math.isfinite(v.lat) and math.isfinite(v.lon) and -90 <= v.lat <= 90 and -180 <= v.lon <= 180):
            dropped["invalid_position"] += 1
            continue
        selected = trips.get(v.trip_entity_id) if v.trip_entity_id else None
        if selected is not None and selected.trip.vehicle_id not in (None, v.vehicle_id):
            selected = None
        seq = stop_id = None
        if selected is not None and v.stop_sequence is not None and v.stop_id is not None:
            if stop_matches(index, selected.trip_index, v.stop_sequence, v.stop_id):
                seq, stop_id = v.stop_sequence, v.stop_id
        out.append(SelectedVehicle(v, selected, seq, stop_id))
    return out, dropped


def stop_matches(index: ScheduleIndex, trip: int, stop_sequence: int, stop_id: str) -> bool:
    """The static feed has ``stop_id`` at ``stop_sequence`` of ``trip``."""
    rows = index.trip_calls(trip)
    seqs = index.st_seq[rows]
    k = int(seqs.searchsorted(stop_sequence))
    if k >= len(seqs) or int(seqs[k]) != stop_sequence:
        return False
    stop = index.find_stop(stop_id)
    return stop is not None and int(index.st_stop[rows.start + k]) == stop
