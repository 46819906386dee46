"""Turning the tracker's arrays into the immutable :class:`Snapshot` readers use, incrementally.

A city has thousands of vehicles and hundreds of thousands of predicted calls, and the writer
publishes several snapshots a second.  Building a frozen ``CallPrediction`` for every call, or
re-sorting every call by stop, after each batch would cost more than the tracking itself, and
the time a fix waits for its snapshot is exactly that cost.  So nothing is built per call at
publication:

* one :class:`PredictionBatch` holds the arrays of every vehicle predicted in a batch (never
  mutated); a vehicle's :class:`VehiclePrediction` is a range of it, and ``TripPrediction`` objects
  are made on first read and memoised, so every snapshot until the vehicle is predicted again
  hands out the very same objects (GTFS-RT re-uses their encoding);
* a vehicle that reports without being re-predicted gets a new :class:`VehiclePublication` (its
  position) sharing the previous ``VehiclePrediction``; its ``VehicleState`` is also built on read;
* which vehicle's prediction a trip instance (entity) comes from, and which entities call at each
  stop, change only when a vehicle changes trip or its block's following trips come or go: the
  writer keeps both maps up to date on those events, as persistent maps that snapshots take as
  they are (``transit.tracking.holdings``);
* a stop's calls, sorted by arrival, are gathered on first read from the few entities calling
  there, and re-used by the next snapshot when none of those entities was predicted again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from transit.core.snapshot import (
    CallPrediction,
    Snapshot,
    StopCall,
    TripPrediction,
    VehicleState,
    VehicleStatus,
)
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import format_gtfs_date
from transit.schedule.timetable import TripInstance

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Within this distance of its next stop a vehicle is INCOMING_AT it.
INCOMING_M = 150.0


class TripPlan:
    """The trip instances a vehicle's predictions cover, in running order: its own trip, then the
    following trips of its block.  Made again only when the vehicle changes trip."""

    __slots__ = ("entity_ids", "insts", "serials", "state_info", "trips")

    def __init__(self, index: ScheduleIndex, trips: list[int], insts: list[TripInstance], serials: list[int],
                 entity_ids: list[str]) -> None:
        self.trips = tuple(trips)
        self.insts = tuple(insts)
        self.serials = tuple(serials)
        self.entity_ids = tuple(entity_ids)
        t = trips[0]
        direction = int(index.trip_direction[t])
        block = int(index.trip_block[t])
        #: VehicleState fields of the vehicle's own trip: entity, trip, route, direction, block.
        self.state_info = (entity_ids[0], index.trip_ids[t], index.route_ids[index.trip_route[t]],
                           direction if direction >= 0 else None, index.block_ids[block] if block >= 0 else None)


class PredictionBatch:
    """Every call predicted in one batch, for all the vehicles predicted in it.  Ragged by trip
    part: part ``p`` is calls ``part_lo[p]:part_hi[p]``."""

    __slots__ = ("arrival_ts", "departure_ts", "dirs", "index", "keys", "part_delay", "part_hi", "part_lo", "row",
                 "schedule_based", "sigma_s")

    def __init__(self, index: ScheduleIndex, row: I64, arrival_ts: F64, departure_ts: F64, sigma_s: F64,
                 schedule_based: NDArray[np.bool_], keys: I64, dirs: NDArray[np.int8], part_lo: I64, part_hi: I64,
                 part_delay: F64) -> None:
        self.index = index
        self.row = row
        self.arrival_ts = arrival_ts
        self.departure_ts = departure_ts
        self.sigma_s = sigma_s
        self.schedule_based = schedule_based
        self.keys = keys
        self.dirs = dirs
        self.part_lo = part_lo
        self.part_hi = part_hi
        self.part_delay = part_delay


class VehiclePrediction:
    """One vehicle's calls from one batch (its own trip, then following trips of its block).
    Immutable; shared by the publications of the vehicle until it is predicted again."""

    __slots__ = ("_trips", "batch", "delay_s", "hi", "last_fix_ts", "lo", "n_parts", "next_due_ts", "p0", "plan",
                 "vehicle_id")

    def __init__(self, batch: PredictionBatch, vehicle_id: str, lo: int, hi: int, p0: int, n_parts: int,
                 plan: TripPlan, last_fix_ts: float, next_due_ts: float, delay_s: float | None) -> None:
        self.batch = batch
        self.vehicle_id = vehicle_id
        self.lo = lo
        self.hi = hi
        self.p0 = p0
        self.n_parts = n_parts
        self.plan = plan
        self.last_fix_ts = last_fix_ts
        #: When the vehicle is due at its next stop (inf: standing at one); overdue past this, it is
        #: predicted again without a fix.
        self.next_due_ts = next_due_ts
        #: Delay at the next call (None: not known).
        self.delay_s = delay_s
        self._trips: list[TripPrediction | None] = [None] * n_parts

    @property
    def serial(self) -> int:
        return self.plan.serials[0]

    # the vehicle's slices of the batch (what damping compares the next prediction with)
    @property
    def keys(self) -> I64:
        return self.batch.keys[self.lo:self.hi]

    @property
    def arrival_ts(self) -> F64:
        return self.batch.arrival_ts[self.lo:self.hi]

    @property
    def dirs(self) -> NDArray[np.int8]:
        return self.batch.dirs[self.lo:self.hi]

    def entity_parts(self) -> dict[str, int]:
        return {e: k for k, e in enumerate(self.plan.entity_ids[: self.n_parts])}

    def part_range(self, k: int) -> tuple[int, int]:
        """Calls of part ``k`` in the batch's arrays."""
        p = self.p0 + k
        return int(self.batch.part_lo[p]), int(self.batch.part_hi[p])

    def trip_prediction(self, k: int) -> TripPrediction:
        tp = self._trips[k]
        if tp is None:
            tp = self._trips[k] = self._build_trip(k)
        return tp

    def _build_trip(self, k: int) -> TripPrediction:
        b = self.batch
        ix = b.index
        lo, hi = self.part_range(k)
        trip = self.plan.trips[k]
        inst = self.plan.insts[k]
        shift = inst.day_start_ts + inst.offset_s
        stop_ids = ix.stop_ids
        rows = b.row[lo:hi]
        calls = tuple(
            CallPrediction(
                stop_sequence=seq, stop_id=stop_ids[stop], arrival_ts=a, departure_ts=d,
                scheduled_arrival_ts=shift + sa, scheduled_departure_ts=shift + sd, uncertainty_s=u, dist_m=dist,
                schedule_based=sb,
            )
            for seq, stop, a, d, sa, sd, u, dist, sb in zip(
                ix.st_seq[rows].tolist(), ix.st_stop[rows].tolist(), b.arrival_ts[lo:hi].tolist(),
                b.departure_ts[lo:hi].tolist(), ix.st_arr_s[rows].tolist(), ix.st_dep_s[rows].tolist(),
                b.sigma_s[lo:hi].tolist(), ix.st_dist_m[rows].tolist(), b.schedule_based[lo:hi].tolist(),
                strict=True,
            )
        )
        direction = int(ix.trip_direction[trip])
        block = int(ix.trip_block[trip])
        return TripPrediction(
            entity_id=self.plan.entity_ids[k], trip_id=ix.trip_ids[trip], route_id=ix.route_ids[ix.trip_route[trip]],
            direction_id=direction if direction >= 0 else None,
            service_date=format_gtfs_date(inst.service_date),
            start_time=inst.start_time(ix) if inst.frequency else None,
            block_id=ix.block_ids[block] if block >= 0 else None, vehicle_id=self.vehicle_id,
            schedule_based=False, delay_s=float(b.part_delay[self.p0 + k]), last_fix_ts=self.last_fix_ts,
            calls=calls,
        )


#: What a tracked vehicle's state is made of, read off it in one go (operator.attrgetter order).
RAW_FIELDS = ("ts", "lat", "lon", "label", "speed_mps", "bearing_deg", "dist_m", "next_row", "zone_row", "off_route",
              "how", "stalled")


class VehiclePublication:
    """One vehicle as of one update: its raw state (``VehicleState`` is built on first read) and
    the prediction it shows (None: on no trip, or predicting nothing)."""

    __slots__ = ("_state", "index", "pred", "raw", "vehicle_id")

    def __init__(self, index: ScheduleIndex, vehicle_id: str, raw: tuple[Any, ...], pred: VehiclePrediction | None,
                 state: VehicleState | None = None) -> None:
        self.index = index
        self.vehicle_id = vehicle_id
        self.raw = raw
        self.pred = pred
        self._state = state

    @property
    def last_fix_ts(self) -> float:
        return self.pred.last_fix_ts if self.pred is not None else float(self.raw[0])

    def vehicle_state(self) -> VehicleState:
        if self._state is None:
            self._state = self._build_state()
        return self._state

    def _build_state(self) -> VehicleState:
        assert self.pred is not None
        ts, lat, lon, label, speed, bearing, dist, next_row, zone_row, off_route, how, stalled = self.raw
        ix = self.index
        entity, trip_id, route_id, direction, block_id = self.pred.plan.state_info
        if zone_row == next_row:
            status = VehicleStatus.STOPPED_AT
        elif float(ix.st_dist_m[next_row]) - dist < INCOMING_M:
            status = VehicleStatus.INCOMING_AT
        else:
            status = VehicleStatus.IN_TRANSIT_TO
        return VehicleState(
            self.vehicle_id, ts, lat, lon, label, speed, bearing, entity, trip_id, route_id, direction, block_id,
            dist, int(ix.st_seq[next_row]), ix.stop_ids[ix.st_stop[next_row]], status, self.pred.delay_s, off_route,
            how, stalled,
        )


# ---------------------------------------------------------------------- snapshot views
class _Vehicles(Mapping[str, VehicleState]):
    __slots__ = ("_pubs",)

    def __init__(self, pubs: dict[str, VehiclePublication]) -> None:
        self._pubs = pubs

    def __getitem__(self, key: str) -> VehicleState:
        return self._pubs[key].vehicle_state()

    def __iter__(self) -> Iterator[str]:
        return iter(self._pubs)

    def __len__(self) -> int:
        return len(self._pubs)

    def __contains__(self, key: object) -> bool:
        return key in self._pubs


class _Trips(Mapping[str, TripPrediction]):
    __slots__ = ("_owners", "_pubs")

    def __init__(self, pubs: dict[str, VehiclePublication], owners: Mapping[str, tuple[str, int]]) -> None:
        self._pubs = pubs
        self._owners = owners

    def __getitem__(self, key: str) -> TripPrediction:
        vid, k = self._owners[key]
        pred = self._pubs[vid].pred
        assert pred is not None
        return pred.trip_prediction(k)

    def __iter__(self) -> Iterator[str]:
        return iter(self._owners)

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, key: object) -> bool:
        return key in self._owners


class StopCallCache:
    """Across snapshots: each stop's sorted calls with the predictions they were gathered from, so
    a stop none of whose vehicles was predicted again is not gathered again.  An entry holds its
    predictions (so they are compared by identity) and is dropped when unread for a while."""

    __slots__ = ("entries", "generation", "hits", "misses")

    #: Entries unread for this many snapshots are dropped (they hold old predictions' arrays).
    KEEP_SNAPSHOTS = 64

    def __init__(self) -> None:
        self.entries: dict[int, tuple[list[tuple[VehiclePrediction, int]], tuple[StopCall, ...], int]] = {}
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def next_generation(self) -> int:
        self.generation += 1
        if self.generation % self.KEEP_SNAPSHOTS == 0:
            old = self.generation - self.KEEP_SNAPSHOTS
            self.entries = {s: e for s, e in self.entries.items() if e[2] > old}
        return self.generation


def _same_members(a: list[tuple[VehiclePrediction, int]], b: list[tuple[VehiclePrediction, int]]) -> bool:
    return len(a) == len(b) and all(x[0] is y[0] and x[1] == y[1] for x, y in zip(a, b, strict=True))


class _ByStop(Mapping[str, tuple[StopCall, ...]]):
    """Calls by stop, sorted by arrival, gathered on first read of each stop."""

    __slots__ = ("_cache", "_generation", "_index", "_keys", "_owners", "_pubs", "_shared", "_stops")

    def __init__(self, index: ScheduleIndex, pubs: dict[str, VehiclePublication], owners: Mapping[str, tuple[str, int]],
                 stops: Mapping[int, frozenset[str]], shared: StopCallCache) -> None:
        self._index = index
        self._pubs = pubs
        self._owners = owners
        self._stops = stops
        self._shared = shared
        self._generation = shared.next_generation()
        self._cache: dict[str, tuple[StopCall, ...]] = {}
        self._keys: list[str] | None = None

    def _gather(self, stop: int) -> tuple[StopCall, ...]:
        entities = self._stops.get(stop)
        if not entities:
            return ()
        members: list[tuple[VehiclePrediction, int]] = []
        for e in entities:
            vid, k = self._owners[e]
            pred = self._pubs[vid].pred
            if pred is not None:
                members.append((pred, k))
        members.sort(key=lambda m: (id(m[0]), m[1]))
        shared = self._shared
        hit = shared.entries.get(stop)
        if hit is not None and _same_members(hit[0], members):
            shared.hits += 1
            if hit[2] != self._generation:
                shared.entries[stop] = (hit[0], hit[1], self._generation)
            return hit[1]
        shared.misses += 1
        st_stop = self._index.st_stop
        found: list[tuple[float, VehiclePrediction, int, int]] = []
        for pred, k in members:
            lo, hi = pred.part_range(k)
            if hi <= lo:
                continue
            at = np.flatnonzero(st_stop[pred.batch.row[lo:hi]] == stop)
            if len(at):
                for i, a in zip(at.tolist(), pred.batch.arrival_ts[lo + at].tolist(), strict=True):
                    found.append((a, pred, k, i))
        found.sort(key=lambda c: c[0])
        out = tuple(StopCall(a, pred.trip_prediction(k), i) for a, pred, k, i in found)
        shared.entries[stop] = (members, out, self._generation)
        return out

    def __getitem__(self, key: str) -> tuple[StopCall, ...]:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        stop = self._index.stop_pos.get(key)
        out = self._gather(stop) if stop is not None else ()
        if not out:
            raise KeyError(key)
        self._cache[key] = out
        return out

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def _all_keys(self) -> list[str]:
        if self._keys is None:
            ids = self._index.stop_ids
            self._keys = [ids[s] for s in sorted(self._stops) if self._gather(s)]
        return self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._all_keys())

    def __len__(self) -> int:
        return len(self._all_keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None


def build_snapshot(
    version: int, created_ts: float, index: ScheduleIndex | None, pubs: dict[str, VehiclePublication],
    owners: Mapping[str, tuple[str, int]], stops: Mapping[int, frozenset[str]], shared: StopCallCache,
) -> Snapshot:
    """A snapshot over ``pubs`` (copied) and ``owners`` / ``stops`` (persistent maps: the writer's
    later changes make new ones)."""
    pubs = dict(pubs)
    feed_id = index.feed_id if index is not None else None
    by_stop: Mapping[str, tuple[StopCall, ...]] = (
        _ByStop(index, pubs, owners, stops, shared) if index is not None else {})
    return Snapshot(version, created_ts, feed_id, _Vehicles(pubs), _Trips(pubs, owners), by_stop)


def vehicle_state_args(
    ts: float, lat: float, lon: float, label: str | None, speed_mps: float | None, bearing_deg: float | None,
    trip_entity_id: str | None, trip_id: str | None, route_id: str | None, direction_id: int | None,
    block_id: str | None, dist_m: float | None, stop_sequence: int | None, stop_id: str | None,
    status: VehicleStatus, delay_s: float | None, off_route: bool, assignment: str, no_progress: bool,
) -> tuple[Any, ...]:
    """VehicleState's fields after vehicle_id, in order."""
    return (ts, lat, lon, label, speed_mps, bearing_deg, trip_entity_id, trip_id, route_id, direction_id, block_id,
            dist_m, stop_sequence, stop_id, status, delay_s, off_route, assignment, no_progress)
