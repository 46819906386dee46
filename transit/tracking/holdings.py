"""Which vehicle's prediction each trip instance is served from, which instances call at each
stop, and how long each was served: kept up to date on the rare events that change them.

A trip instance (entity) can be predicted by two vehicles at once: the bus running it, and the
bus whose block reaches it later (when buses swap blocks, or a trip is inferred for a vehicle
while its block's previous bus is still predicting it as a following trip).  The bus running it
wins; between two that only predict it as a following trip, the first keeps it until it lets go.

Both maps are persistent (``immutables.Map``, a hash array mapped trie): a change makes a new map
sharing all but a few nodes with the old one, so a snapshot takes them as they are, and the
writer never copies a whole map (it used to copy both, tens of thousands of entries, whenever
one changed after a snapshot had taken it).

Served trips (the ``served_trips`` table behind the bureau's real-time prediction rate) count the
snapshots that held each instance: an instance held from snapshot ``a`` to ``b`` adds ``b - a + 1``,
worked out when it leaves or when the rows are taken, never by walking every instance per
snapshot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from immutables import Map

from transit.schedule.index import ScheduleIndex
from transit.schedule.timetable import TripInstance


class Holdings:
    def __init__(self, index: ScheduleIndex) -> None:
        self.index = index
        #: entity -> (vehicle_id, part k of that vehicle's prediction)
        self.owners: Map[str, tuple[str, int]] = Map()
        #: stop index -> entities whose trip calls there
        self.stops: Map[int, frozenset[str]] = Map()
        self._claims: dict[str, dict[str, int]] = {}
        self._info: dict[str, tuple[int, TripInstance]] = {}
        self._trip_stops: dict[int, tuple[int, ...]] = {}
        # served accounting
        self._snap_no = 0
        self._base_no = 0
        self._snap_ts: list[float] = []
        self._held_since: dict[str, int] = {}
        self._served: dict[tuple[Any, str, str], list[Any]] = {}

    # ------------------------------------------------------------------ claims
    def update(self, vehicle_id: str, old: dict[str, int], new: dict[str, int], trips: tuple[int, ...],
               insts: tuple[TripInstance, ...]) -> None:
        """A vehicle's prediction now covers ``new`` (entity -> part) instead of ``old``."""
        for e in old:
            if e not in new:
                self._unclaim(e, vehicle_id)
        for e, k in new.items():
            if old.get(e) != k:
                self._claim(e, vehicle_id, k, trips[k], insts[k])

    def _claim(self, e: str, vid: str, k: int, trip: int, inst: TripInstance) -> None:
        c = self._claims.get(e)
        if c is None:
            c = self._claims[e] = {}
            self._enter(e, trip, inst)
        c[vid] = k
        cur = self.owners.get(e)
        if cur is None or cur[0] == vid or (k == 0 and cur[1] > 0):
            self._set_owner(e, (vid, k))

    def _unclaim(self, e: str, vid: str) -> None:
        c = self._claims.get(e)
        if c is None or vid not in c:
            return
        del c[vid]
        if not c:
            del self._claims[e]
            self._set_owner(e, None)
            self._leave(e)
        elif self.owners[e][0] == vid:
            best = min(c.items(), key=lambda item: item[1])
            self._set_owner(e, best)

    def _set_owner(self, e: str, owner: tuple[str, int] | None) -> None:
        if owner is None:
            if e in self.owners:
                self.owners = self.owners.delete(e)
        else:
            self.owners = self.owners.set(e, owner)

    def _stops_of(self, trip: int) -> tuple[int, ...]:
        found = self._trip_stops.get(trip)
        if found is None:
            ix = self.index
            found = self._trip_stops[trip] = tuple(
                np.unique(ix.st_stop[ix.trip_st_start[trip]:ix.trip_st_start[trip + 1]]).tolist())
        return found

    def _enter(self, e: str, trip: int, inst: TripInstance) -> None:
        self._info[e] = (trip, inst)
        one = frozenset((e,))
        with self.stops.mutate() as stops:
            for s in self._stops_of(trip):
                had = stops.get(s)
                stops[s] = one if had is None else had | one
            self.stops = stops.finish()
        self._held_since[e] = self._snap_no + 1

    def _leave(self, e: str) -> None:
        trip, inst = self._info.pop(e)
        with self.stops.mutate() as stops:
            for s in self._stops_of(trip):
                had = stops.get(s)
                if had is not None:
                    rest = had - {e}
                    if rest:
                        stops[s] = rest
                    else:
                        del stops[s]
            self.stops = stops.finish()
        first = self._held_since.pop(e)
        if self._snap_no >= first:
            self._count(trip, inst, first, self._snap_no)

    # ------------------------------------------------------------------ snapshots
    def snapshot_taken(self, ts: float) -> tuple[Map[str, tuple[str, int]], Map[int, frozenset[str]]]:
        """The maps for a snapshot made at ``ts`` (immutable: the snapshot keeps them as they are)."""
        self._snap_no += 1
        self._snap_ts.append(ts)
        return self.owners, self.stops

    # ------------------------------------------------------------------ served trips
    def _count(self, trip: int, inst: TripInstance, first: int, last: int) -> None:
        ix = self.index
        start = inst.start_time(ix) if inst.frequency else ""
        key = (inst.service_date, ix.trip_ids[trip], start)
        f_ts = self._snap_ts[first - self._base_no - 1]
        l_ts = self._snap_ts[last - self._base_no - 1]
        self._merge(key, [inst.service_date, ix.trip_ids[trip], start, ix.route_ids[ix.trip_route[trip]], f_ts, l_ts,
                          last - first + 1])

    def _merge(self, key: tuple[Any, str, str], row: list[Any]) -> None:
        rec = self._served.get(key)
        if rec is None:
            self._served[key] = row
        else:
            rec[4] = min(rec[4], row[4])
            rec[5] = max(rec[5], row[5])
            rec[6] += row[6]

    def take_served(self) -> list[list[Any]]:
        """[service_date, trip_id, start_time, route_id, first_ts, last_ts, snapshots] for every
        instance held by a snapshot since the last call (then forgotten)."""
        now_no = self._snap_no
        for e, first in self._held_since.items():
            if now_no >= first:
                trip, inst = self._info[e]
                self._count(trip, inst, first, now_no)
                self._held_since[e] = now_no + 1
        out = list(self._served.values())
        self._served = {}
        self._base_no = now_no
        self._snap_ts = []
        return out

    def requeue_served(self, rows: list[list[Any]]) -> None:
        """Rows that could not be stored: counted again with the next ones."""
        for r in rows:
            self._merge((r[0], r[1], r[2]), list(r))

    def statistics(self) -> dict[str, int]:
        return {"entities": len(self.owners), "contested": sum(1 for c in self._claims.values() if len(c) > 1),
                "stops": len(self.stops)}
