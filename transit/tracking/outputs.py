"""What the tracker produces after matching: learning, predictions, publications, served trips.

Split from ``tracker.py`` so that one file holds the per-fix path (matching, assignment, arrival
detection) and this one the per-batch path (one vectorised prediction for every vehicle that
moved, damped against what was published, then the per-vehicle publications a snapshot is made
of).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from transit.core.snapshot import Snapshot, VehicleStatus
from transit.prediction.calibration import Calibrator
from transit.prediction.model import SegmentModel
from transit.prediction.predict import FollowingTrips, VehicleInput, predict_vehicles
from transit.prediction.smoothing import smooth_predictions
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.network import TrackingNetwork
from transit.tracking.publish import TripPart, VehiclePublication, build_snapshot, vehicle_state_args
from transit.tracking.vehicle import InstanceKey, VehicleTrack

if TYPE_CHECKING:
    from transit.tracking.tracker import TrackerParams

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Call keys: instance serial * KEY_SPAN + position of the call in its trip.
KEY_SPAN = 1 << 22
#: Following trips of a block predicted per vehicle.
MAX_FOLLOWING = 2


@dataclass(frozen=True, slots=True)
class PredictionsMade:
    """Every call predicted in one batch (what ``transit evaluate`` writes and the accuracy
    monitor samples).  Per vehicle: ``vehicle_ids``, ``fix_ts``; per call: the rest."""

    vehicle_ids: list[str]
    #: Time of each vehicle's newest fix.
    fix_ts: F64
    #: The vehicle reported in this batch (False: re-predicted because time passed).
    fresh: NDArray[np.bool_]
    vehicle: I64
    serial: I64
    row: I64
    trip: I64
    shift_ts: F64
    arrival_ts: F64
    departure_ts: F64
    sigma_s: F64
    schedule_based: NDArray[np.bool_]
    #: The call's position in its trip (0 = first stop).
    position: I64
    #: What the link model said before calibration and damping, with its uncertainty, and the
    #: timetable (what calibration learns from).
    model_ts: F64
    model_sigma_s: F64
    scheduled_ts: F64
    #: The first call ahead of its vehicle.
    next_call: NDArray[np.bool_]

    @property
    def keys(self) -> I64:
        return self.serial * KEY_SPAN + self.position


class Outputs:
    def __init__(self, net: TrackingNetwork, model: SegmentModel, params: TrackerParams) -> None:
        self.net = net
        self.model = model
        self.params = params
        self.calibrator = Calibrator()
        self.pubs: dict[str, VehiclePublication] = {}
        self.entities: dict[str, tuple[VehiclePublication, int]] = {}
        self._serial_of: dict[InstanceKey, int] = {}
        self._n_serials = 0
        self._serial_day = np.zeros(1024, dtype=np.int64)  # service date ordinal of each instance
        self._deps: dict[int, tuple[int, float]] = {}
        #: entity_id -> [service_date, trip_id, start_time, route_id, first_ts, last_ts, snapshots]
        self.served: dict[str, list[Any]] = {}

    # ------------------------------------------------------------------ identities
    def serial(self, key: InstanceKey, trip: int) -> int:
        """A small integer for a trip instance: call keys and accuracy samples are built on it."""
        s = self._serial_of.get(key)
        if s is None:
            s = self._serial_of[key] = self._n_serials
            if s >= len(self._serial_day):
                self._serial_day = np.concatenate([self._serial_day, np.zeros_like(self._serial_day)])
            self._serial_day[s] = key[0]
            self._n_serials += 1
            if len(self._serial_of) > 500_000:  # forget instances of service days long gone
                oldest = max(k[0] for k in self._serial_of) - 2
                self._serial_of = {k: v for k, v in self._serial_of.items() if k[0] >= oldest}
        return s

    @property
    def serial_day(self) -> I64:
        """Service date ordinal of each instance serial."""
        return self._serial_day[: self._n_serials]

    def call_key(self, serial: int, row: int) -> int:
        return serial * KEY_SPAN + (row - int(self.net.row_first[row]))

    # ------------------------------------------------------------------ learning
    def learn(self, events: list[ArrivalEvent], vehicles: dict[str, VehicleTrack], now: float) -> None:
        """Feed observed link times and dwells to the model, and each vehicle's pace."""
        rows: list[int] = []
        dtypes: list[int] = []
        runs: list[float] = []
        tss: list[float] = []
        owners: list[str] = []
        dwell_rows: list[int] = []
        dwells: list[float] = []
        deps = self._deps
        for e in events:
            # link time: arrival minus the previous call's arrival (departure at the first stop)
            prev = deps.get(e.serial)
            if prev is not None and prev[0] == e.row - 1 and not math.isnan(e.arrival_ts) \
                    and not math.isnan(prev[1]):
                link = e.arrival_ts - prev[1]
                if link >= 0:
                    rows.append(e.row)
                    dtypes.append(e.day_type)
                    runs.append(link)
                    tss.append(e.arrival_ts)
                    owners.append(e.vehicle_id)
            if e.method == "at_stop" and not math.isnan(e.arrival_ts) and not math.isnan(e.departure_ts):
                dwell_rows.append(e.row)
                dwells.append(e.departure_ts - e.arrival_ts)
            mark = e.departure_ts if e.method == "first_stop" else e.arrival_ts
            if not math.isnan(mark):
                deps[e.serial] = (e.row, mark)
            elif e.serial in deps:
                del deps[e.serial]
        if len(deps) > 200_000:
            for k in list(deps)[: len(deps) // 2]:
                del deps[k]
        if rows:
            r = np.array(rows, dtype=np.int64)
            d = np.array(dtypes, dtype=np.int64)
            run_a = np.array(runs)
            expected = self.model.expected_links(r, d, now).mean_s
            self.model.observe_links(r, d, run_a, np.array(tss))
            for vid, obs, exp in zip(owners, runs, expected.tolist(), strict=True):
                v = vehicles.get(vid)
                if v is None:
                    continue
                v.pace_num = 0.75 * v.pace_num + obs
                v.pace_den = 0.75 * v.pace_den + exp
                v.pace = min(2.0, max(0.5, (v.pace_num + 90.0) / (v.pace_den + 90.0)))
        if dwell_rows:
            self.model.observe_dwells(np.array(dwell_rows, dtype=np.int64), np.array(dwells))

    # ------------------------------------------------------------------ predictions
    def _following(self, v: VehicleTrack) -> list[tuple[int, Any, int, str]]:
        if v.following is None:
            out: list[tuple[int, Any, int, str]] = []
            ix = self.net.index
            block = int(ix.trip_block[v.trip])
            if block >= 0 and v.inst is not None and not v.inst.frequency:
                running = ix.trips_running_on(v.inst.service_date)
                end = int(ix.trip_last_arr_s[v.trip])
                for t in self.net.block_trips_ordered(block):
                    t = int(t)
                    if t != v.trip and running[t] and int(ix.trip_first_dep_s[t]) >= end - 60:
                        inst = self.net.instance(t, v.inst.service_date)
                        key = (inst.service_date.toordinal(), t, 0)
                        out.append((t, inst, self.serial(key, t), inst.entity_id(ix)))
                        if len(out) >= MAX_FOLLOWING:
                            break
            v.following = out
        return v.following

    def publish(
        self, vehicles: list[VehicleTrack], now: float, evidence: set[str], fresh: set[str] | None = None
    ) -> PredictionsMade | None:
        """Predict and publish ``vehicles``; ``fresh`` are those that reported in this batch (the
        others are re-predicted because time passed)."""
        p = self.params
        ix = self.net.index
        active: list[VehicleTrack] = []
        for v in vehicles:
            if v.trip >= 0 and not v.ended and v.inst is not None and v.next_row >= 0 and not (
                v.stalled and v.ts - v.progress_ts > p.no_progress_drop_s
            ):
                active.append(v)
            else:
                self._publish_idle(v)
        if not active:
            return None
        m = len(active)
        # one pass over the vehicles for everything the vectorised part needs
        cols = np.array([
            (v.trip, v.next_row, v.zone_row, v.dist_m, v.on_ts, v.zone_arr_ts, v.pace, v.day_type,
             v.inst.day_start_ts + v.inst.offset_s, v.ts, v.vehicle_id in evidence,  # type: ignore[union-attr]
             fresh is None or v.vehicle_id in fresh)
            for v in active
        ], dtype=np.float64).reshape(m, 12)
        trip = cols[:, 0].astype(np.int64)
        next_row = cols[:, 1].astype(np.int64)
        vin = VehicleInput(
            trip=trip, shift_ts=cols[:, 8], day_type=cols[:, 7].astype(np.int64), next_row=next_row,
            dist_m=cols[:, 3], fix_ts=cols[:, 4], at_stop=cols[:, 2] == cols[:, 1], stop_arrival_ts=cols[:, 5],
            pace=cols[:, 6],
        )
        f_veh: list[int] = []
        f_trip: list[int] = []
        f_shift: list[float] = []
        f_dtype: list[int] = []
        part_serial: list[int] = []
        part_start = np.zeros(m + 1, dtype=np.int64)
        in_block = (ix.trip_block[trip] >= 0).tolist()
        for i, v in enumerate(active):
            part_serial.append(v.serial)
            if in_block[i]:
                for t, inst, serial, _ in self._following(v):
                    f_veh.append(i)
                    f_trip.append(t)
                    f_shift.append(inst.day_start_ts)
                    f_dtype.append(v.day_type)
                    part_serial.append(serial)
            part_start[i + 1] = len(part_serial)
        following = FollowingTrips(
            np.array(f_veh, dtype=np.int64), np.array(f_trip, dtype=np.int64), np.array(f_shift),
            np.array(f_dtype, dtype=np.int64),
        )
        pr = predict_vehicles(self.net, self.model, vin, following, now, p.predict)
        sched_arr = ix.st_arr_s[pr.row] + pr.shift_ts
        next_call = np.zeros(len(pr.row), dtype=bool)
        next_call[pr.call_start[:-1][np.diff(pr.call_start) > 0]] = True
        calibrated, sigma = self.calibrator.apply(pr.arrival_ts - now, pr.arrival_ts, sched_arr, pr.sigma_s,
                                                  next_call)
        serials = np.array(part_serial, dtype=np.int64)[part_start[pr.vehicle] + pr.part]
        first_rows = self.net.row_first[pr.row]
        keys = serials * KEY_SPAN + (pr.row - first_rows)
        prev = [v.pub for v in active if v.pub is not None and len(v.pub.keys)]
        ev = cols[:, 10] > 0
        if prev:
            arrival, dirs = smooth_predictions(
                np.concatenate([q.keys for q in prev]), np.concatenate([q.arrival_ts for q in prev]),
                np.concatenate([q.dirs for q in prev]), keys, calibrated, ev[pr.vehicle], now, p.smooth,
            )
        else:
            arrival, dirs = calibrated, np.zeros(len(keys), dtype=np.int8)
        # departures move with the arrivals, except from the first stop of a trip, where the bus
        # keeps to its scheduled departure (or the layover the model worked out)
        first_of_trip = pr.row == self.net.row_first[pr.row]
        departure = np.maximum(np.where(first_of_trip, pr.departure_ts, pr.departure_ts + (arrival - pr.arrival_ts)),
                               arrival)
        delay = arrival - sched_arr
        # per vehicle, what its state shows (vectorised once for the batch)
        nr = next_row
        stop_l = ix.st_stop[nr].tolist()
        seq_l = ix.st_seq[nr].tolist()
        near_l = (ix.st_dist_m[nr] - vin.dist_m < 150.0).tolist()
        direction_l = ix.trip_direction[trip].tolist()
        block_l = ix.trip_block[trip].tolist()
        route_l = ix.trip_route[trip].tolist()
        cs = pr.call_start.tolist()
        has_calls = np.diff(pr.call_start) > 0
        delay0 = np.full(m, np.nan)
        delay0[has_calls] = delay[pr.call_start[:-1][has_calls]]
        delay0_l = delay0.tolist()
        # trip parts: where the part changes within a vehicle's calls
        n_calls = len(pr.row)
        change = np.ones(n_calls, dtype=bool)
        if n_calls > 1:
            change[1:] = (pr.vehicle[1:] != pr.vehicle[:-1]) | (pr.part[1:] != pr.part[:-1])
        part_starts = np.flatnonzero(change)
        part_start_l = part_starts.tolist()
        part_k_l = pr.part[part_starts].tolist()
        part_delay_l = delay[part_starts].tolist()
        first_part = np.searchsorted(part_starts, pr.call_start).tolist()
        trip_ids, route_ids, block_ids, stop_ids = ix.trip_ids, ix.route_ids, ix.block_ids, ix.stop_ids
        for i, v in enumerate(active):
            lo, hi = cs[i], cs[i + 1]
            parts: list[TripPart] = []
            if hi > lo:
                fol = v.following or []
                p0, p1 = first_part[i], first_part[i + 1]
                for q in range(p0, p1):
                    start = part_start_l[q]
                    end = part_start_l[q + 1] if q + 1 < p1 else hi
                    k = part_k_l[q]
                    if k == 0:
                        parts.append(TripPart(v.entity_id, v.trip, v.inst, start - lo, end - lo,  # type: ignore[arg-type]
                                              part_delay_l[q]))
                    else:
                        t_k, inst_k, _, entity_k = fol[k - 1]
                        parts.append(TripPart(entity_k, t_k, inst_k, start - lo, end - lo, part_delay_l[q]))
            at_stop = v.zone_row == v.next_row
            status = VehicleStatus.STOPPED_AT if at_stop else (
                VehicleStatus.INCOMING_AT if near_l[i] else VehicleStatus.IN_TRANSIT_TO)
            direction = direction_l[i]
            block = block_l[i]
            d0 = delay0_l[i]
            args = (
                v.ts, v.lat, v.lon, v.label, v.speed_mps, v.bearing_deg, v.entity_id, trip_ids[v.trip],
                route_ids[route_l[i]], direction if direction >= 0 else None,
                block_ids[block] if block >= 0 else None, v.dist_m, seq_l[i], stop_ids[stop_l[i]], status,
                None if d0 != d0 else d0, v.off_route, v.how, v.stalled,
            )
            pub = VehiclePublication(
                ix, v.vehicle_id, args, v.on_ts, parts, pr.row[lo:hi], arrival[lo:hi], departure[lo:hi],
                sigma[lo:hi], pr.schedule_based[lo:hi], keys[lo:hi], dirs[lo:hi],
            )
            pub.serial = v.serial
            self._replace(v, pub)
        made = PredictionsMade(
            vehicle_ids=[v.vehicle_id for v in active],
            fix_ts=cols[:, 9], fresh=cols[:, 11] > 0,
            vehicle=pr.vehicle, serial=serials, row=pr.row, trip=pr.trip, shift_ts=pr.shift_ts, arrival_ts=arrival,
            departure_ts=departure, sigma_s=sigma, schedule_based=pr.schedule_based, position=pr.row - first_rows,
            model_ts=pr.arrival_ts, model_sigma_s=pr.sigma_s, scheduled_ts=sched_arr, next_call=next_call,
        )
        return made

    def restate(self, v: VehicleTrack) -> None:
        """Publish a vehicle's new position and status with its previous predictions."""
        old = v.pub
        assert old is not None and v.inst is not None
        ix = self.net.index
        nr = v.next_row
        status = VehicleStatus.STOPPED_AT if v.zone_row == nr else (
            VehicleStatus.INCOMING_AT if float(ix.st_dist_m[nr]) - v.dist_m < 150.0 else VehicleStatus.IN_TRANSIT_TO)
        args = (v.ts, v.lat, v.lon, v.label, v.speed_mps, v.bearing_deg, *old.state_args[6:11], v.dist_m,
                int(ix.st_seq[nr]), ix.stop_ids[ix.st_stop[nr]], status, old.state_args[15], v.off_route, v.how,
                v.stalled)
        pub = VehiclePublication(ix, v.vehicle_id, args, old.last_fix_ts, old.parts, old.row, old.arrival_ts,
                                 old.departure_ts, old.sigma_s, old.schedule_based, old.keys, old.dirs)
        pub.serial = old.serial
        self._replace(v, pub)

    def _publish_idle(self, v: VehicleTrack) -> None:
        """A vehicle without a running trip: shown on the map, predicting nothing."""
        ix = self.net.index
        trip = v.trip
        on = trip >= 0
        args = vehicle_state_args(
            v.ts, v.lat, v.lon, v.label, v.speed_mps, v.bearing_deg,
            v.entity_id if on else None, ix.trip_ids[trip] if on else None,
            ix.route_ids[ix.trip_route[trip]] if on else None, None, None,
            v.dist_m if on else None,
            int(ix.st_seq[v.next_row]) if on and v.next_row >= 0 and v.ended else None,
            ix.stop_ids[ix.st_stop[v.next_row]] if on and v.next_row >= 0 and v.ended else None,
            VehicleStatus.STOPPED_AT if on and v.ended else VehicleStatus.IN_TRANSIT_TO, None, v.off_route,
            v.how if on else "none", v.stalled,
        )
        empty = np.zeros(0, dtype=np.int64)
        pub = VehiclePublication(ix, v.vehicle_id, args, v.ts, [], empty, np.zeros(0), np.zeros(0), np.zeros(0),
                                 np.zeros(0, dtype=bool), empty, np.zeros(0, dtype=np.int8))
        self._replace(v, pub)

    def _replace(self, v: VehicleTrack, pub: VehiclePublication) -> None:
        old = v.pub
        entities = self.entities
        if old is not None:
            for part in old.parts:
                held = entities.get(part.entity_id)
                if held is not None and held[0] is old:
                    del entities[part.entity_id]
        for k, part in enumerate(pub.parts):
            held = entities.get(part.entity_id)
            if held is None or held[0].last_fix_ts <= pub.last_fix_ts:
                entities[part.entity_id] = (pub, k)
        v.pub = pub
        self.pubs[v.vehicle_id] = pub

    def withdraw(self, v: VehicleTrack) -> None:
        old = v.pub
        if old is not None:
            for part in old.parts:
                held = self.entities.get(part.entity_id)
                if held is not None and held[0] is old:
                    del self.entities[part.entity_id]
        v.pub = None
        self.pubs.pop(v.vehicle_id, None)

    def overdue(self, now: float) -> list[tuple[str, VehiclePublication]]:
        return [(vid, pub) for vid, pub in self.pubs.items() if pub.parts and pub.next_arrival_ts < now - 10.0]

    # ------------------------------------------------------------------ snapshots
    def snapshot(self, version: int, created_ts: float) -> Snapshot:
        self._count_served(created_ts)
        return build_snapshot(version, created_ts, self.net.index, self.pubs, self.entities)

    def _count_served(self, ts: float) -> None:
        served = self.served
        ix = self.net.index
        for entity, (pub, k) in self.entities.items():
            rec = served.get(entity)
            if rec is None:
                part = pub.parts[k]
                inst = part.inst
                served[entity] = [
                    inst.service_date, ix.trip_ids[part.trip], inst.start_time(ix) if inst.frequency else "",
                    ix.route_ids[ix.trip_route[part.trip]], ts, ts, 1,
                ]
            else:
                rec[5] = ts
                rec[6] += 1

    def take_served(self) -> list[list[Any]]:
        """Rows counted since the last call, to add to ``served_trips`` (and forget)."""
        out = list(self.served.values())
        self.served = {}
        return out
