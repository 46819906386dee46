"""Turning the tracker's arrays into the immutable :class:`Snapshot` readers use.

A city has thousands of vehicles and hundreds of thousands of predicted calls; building a frozen
``CallPrediction`` for each after every batch would cost more than the tracking itself.  So each
vehicle update becomes one :class:`VehiclePublication` holding its own (never mutated) numpy
arrays, and the snapshot's mappings build ``VehicleState``, ``TripPrediction`` and the by-stop
index on first access, memoised on the publication.  A vehicle that did not report since the
last snapshot keeps its publication, so its objects are reused, not rebuilt.
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


class TripPart:
    __slots__ = ("_prediction", "delay_s", "entity_id", "hi", "inst", "lo", "trip")

    def __init__(self, entity_id: str, trip: int, inst: TripInstance, lo: int, hi: int, delay_s: float) -> None:
        self.entity_id = entity_id
        self.trip = trip
        self.inst = inst
        self.lo = lo
        self.hi = hi
        self.delay_s = delay_s
        self._prediction: TripPrediction | None = None


class VehiclePublication:
    """One vehicle's published state and predictions, as of one update.  Immutable once built."""

    __slots__ = (
        "_state",
        "arrival_ts",
        "departure_ts",
        "dirs",
        "index",
        "keys",
        "last_fix_ts",
        "next_arrival_ts",
        "parts",
        "row",
        "schedule_based",
        "serial",
        "sigma_s",
        "state_args",
        "vehicle_id",
    )

    def __init__(
        self, index: ScheduleIndex, vehicle_id: str, state_args: tuple[Any, ...], last_fix_ts: float,
        parts: list[TripPart], row: NDArray[np.int64], arrival_ts: F64, departure_ts: F64, sigma_s: F64,
        schedule_based: NDArray[np.bool_], keys: NDArray[np.int64], dirs: NDArray[np.int8],
    ) -> None:
        self.index = index
        self.vehicle_id = vehicle_id
        self.state_args = state_args
        self.last_fix_ts = last_fix_ts
        self.parts = parts
        self.row = row
        self.arrival_ts = arrival_ts
        self.departure_ts = departure_ts
        self.sigma_s = sigma_s
        self.schedule_based = schedule_based
        self.keys = keys
        self.dirs = dirs
        self.next_arrival_ts = float(arrival_ts[0]) if len(arrival_ts) else float("inf")
        #: Instance serial of the vehicle's trip the predictions were made for (-1: none).
        self.serial = -1
        self._state: VehicleState | None = None

    def vehicle_state(self) -> VehicleState:
        if self._state is None:
            self._state = VehicleState(self.vehicle_id, *self.state_args)
        return self._state

    def trip_prediction(self, k: int) -> TripPrediction:
        part = self.parts[k]
        if part._prediction is None:
            part._prediction = self._build_trip(part)
        return part._prediction

    def _build_trip(self, part: TripPart) -> TripPrediction:
        ix = self.index
        trip = part.trip
        rows = self.row[part.lo:part.hi]
        inst = part.inst
        shift = inst.day_start_ts + inst.offset_s
        stop_ids = ix.stop_ids
        calls = tuple(
            CallPrediction(
                stop_sequence=int(ix.st_seq[r]), stop_id=stop_ids[ix.st_stop[r]],
                arrival_ts=float(a), departure_ts=float(d),
                scheduled_arrival_ts=shift + float(ix.st_arr_s[r]),
                scheduled_departure_ts=shift + float(ix.st_dep_s[r]),
                uncertainty_s=float(u), dist_m=float(ix.st_dist_m[r]), schedule_based=bool(sb),
            )
            for r, a, d, u, sb in zip(
                rows.tolist(), self.arrival_ts[part.lo:part.hi].tolist(),
                self.departure_ts[part.lo:part.hi].tolist(), self.sigma_s[part.lo:part.hi].tolist(),
                self.schedule_based[part.lo:part.hi].tolist(), strict=True,
            )
        )
        direction = int(ix.trip_direction[trip])
        block = int(ix.trip_block[trip])
        return TripPrediction(
            entity_id=part.entity_id, trip_id=ix.trip_ids[trip], route_id=ix.route_ids[ix.trip_route[trip]],
            direction_id=direction if direction >= 0 else None,
            service_date=format_gtfs_date(inst.service_date),
            start_time=inst.start_time(ix) if inst.frequency else None,
            block_id=ix.block_ids[block] if block >= 0 else None, vehicle_id=self.vehicle_id,
            schedule_based=False, delay_s=part.delay_s, last_fix_ts=self.last_fix_ts, calls=calls,
        )


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
    __slots__ = ("_entities",)

    def __init__(self, entities: dict[str, tuple[VehiclePublication, int]]) -> None:
        self._entities = entities

    def __getitem__(self, key: str) -> TripPrediction:
        pub, k = self._entities[key]
        return pub.trip_prediction(k)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entities)

    def __len__(self) -> int:
        return len(self._entities)

    def __contains__(self, key: object) -> bool:
        return key in self._entities


class _ByStop(Mapping[str, tuple[StopCall, ...]]):
    """Calls by stop, sorted by arrival; the index over all calls is built on first use."""

    __slots__ = ("_built", "_cache", "_entities", "_index")

    def __init__(self, index: ScheduleIndex, entities: dict[str, tuple[VehiclePublication, int]]) -> None:
        self._index = index
        self._entities = entities
        self._built: tuple[dict[str, tuple[int, int]], list[tuple[VehiclePublication, int]], Any, Any] | None = None
        self._cache: dict[str, tuple[StopCall, ...]] = {}

    def _build(self) -> tuple[dict[str, tuple[int, int]], list[tuple[VehiclePublication, int]], Any, Any]:
        if self._built is None:
            owners = list(self._entities.values())
            stops: list[NDArray[np.int64]] = []
            arr: list[F64] = []
            owner: list[NDArray[np.int64]] = []
            pos: list[NDArray[np.int64]] = []
            for j, (pub, k) in enumerate(owners):
                part = pub.parts[k]
                n = part.hi - part.lo
                stops.append(self._index.st_stop[pub.row[part.lo:part.hi]].astype(np.int64))
                arr.append(pub.arrival_ts[part.lo:part.hi])
                owner.append(np.full(n, j, dtype=np.int64))
                pos.append(np.arange(n, dtype=np.int64))
            if owners:
                s = np.concatenate(stops)
                a = np.concatenate(arr)
                o = np.concatenate(owner)
                p = np.concatenate(pos)
                order = np.lexsort((a, s))
                s, o, p = s[order], o[order], p[order]
                bounds = np.flatnonzero(np.diff(s)) + 1
                starts = np.concatenate(([0], bounds))
                ends = np.concatenate((bounds, [len(s)]))
                where = {self._index.stop_ids[int(s[b])]: (int(b), int(e)) for b, e in zip(starts, ends, strict=True)}
            else:
                o = p = np.zeros(0, dtype=np.int64)
                where = {}
            self._built = (where, owners, o, p)
        return self._built

    def __getitem__(self, key: str) -> tuple[StopCall, ...]:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        where, owners, o, p = self._build()
        b, e = where[key]
        calls = []
        for j, i in zip(o[b:e].tolist(), p[b:e].tolist(), strict=True):
            pub, k = owners[j]
            trip = pub.trip_prediction(k)
            calls.append(StopCall(trip.calls[i].arrival_ts, trip, i))
        out = tuple(calls)
        self._cache[key] = out
        return out

    def get(self, key: str, default: Any = None) -> Any:
        where = self._build()[0]
        return self[key] if key in where else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._build()[0])

    def __len__(self) -> int:
        return len(self._build()[0])

    def __contains__(self, key: object) -> bool:
        return key in self._build()[0]


def build_snapshot(
    version: int, created_ts: float, index: ScheduleIndex | None,
    pubs: dict[str, VehiclePublication], entities: dict[str, tuple[VehiclePublication, int]],
) -> Snapshot:
    """A snapshot over copies of the two dicts (the publications themselves are immutable)."""
    pubs = dict(pubs)
    entities = dict(entities)
    feed_id = index.feed_id if index is not None else None
    by_stop: Mapping[str, tuple[StopCall, ...]] = _ByStop(index, entities) if index is not None else {}
    return Snapshot(version, created_ts, feed_id, _Vehicles(pubs), _Trips(entities), by_stop)


def vehicle_state_args(
    ts: float, lat: float, lon: float, label: str | None, speed_mps: float | None, bearing_deg: float | None,
    trip_entity_id: str | None, trip_id: str | None, route_id: str | None, direction_id: int | None,
    block_id: str | None, dist_m: float | None, stop_sequence: int | None, stop_id: str | None,
    status: VehicleStatus, delay_s: float | None, off_route: bool, assignment: str, no_progress: bool,
) -> tuple[Any, ...]:
    """VehicleState's fields after vehicle_id, in order (the state is built only when read)."""
    return (ts, lat, lon, label, speed_mps, bearing_deg, trip_entity_id, trip_id, route_id, direction_id, block_id,
            dist_m, stop_sequence, stop_id, status, delay_s, off_route, assignment, no_progress)
