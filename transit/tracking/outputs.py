"""What the tracker produces after matching: learning, predictions, publications, served trips.

Split from ``tracker.py`` so that one file holds the per-fix path (matching, assignment, arrival
detection) and this one the per-batch path (one vectorised prediction for every vehicle that
moved, damped against what was published, then the per-vehicle publications a snapshot is made
of).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from transit.core.snapshot import Snapshot, VehicleState, VehicleStatus
from transit.prediction.calibration import STANDING_MPS, Calibrator, call_states
from transit.prediction.model import SegmentModel
from transit.prediction.predict import FollowingTrips, VehicleInput, predict_vehicles
from transit.prediction.smoothing import smooth_predictions
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.holdings import Holdings
from transit.tracking.network import TrackingNetwork
from transit.tracking.publish import (
    RAW_FIELDS,
    PredictionBatch,
    StopCallCache,
    TripPlan,
    VehiclePrediction,
    VehiclePublication,
    build_snapshot,
    vehicle_state_args,
)
from transit.tracking.vehicle import InstanceKey, VehicleTrack

if TYPE_CHECKING:
    from transit.tracking.tracker import TrackerParams

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: A vehicle this far past the arrival predicted at its next stop is late (overdue).
OVERDUE_S = 10.0
#: Call keys: instance serial * KEY_SPAN + position of the call in its trip.
KEY_SPAN = 1 << 22
#: Following trips of a block predicted per vehicle.
MAX_FOLLOWING = 2
_RAW = operator.attrgetter(*RAW_FIELDS)


def _ranges(lo: I64, hi: I64) -> I64:
    """Indices lo[0]:hi[0], lo[1]:hi[1], ... concatenated."""
    count = hi - lo
    starts = np.cumsum(count) - count
    return np.repeat(lo - starts, count) + np.arange(int(count.sum()))


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
    #: Per call, its calibration state (:func:`transit.prediction.calibration.call_states`).
    call_state: NDArray[np.int64]

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
        self.holdings = Holdings(net.index)
        self._stop_cache = StopCallCache()
        self._serial_of: dict[InstanceKey, int] = {}
        self._n_serials = 0
        self._serial_day = np.zeros(1024, dtype=np.int64)  # service date ordinal of each instance
        self._deps: dict[int, tuple[int, float]] = {}

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
        hold, early_s = self.params.predict.hold_at_timepoints, self.params.predict.timepoint_early_s
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
            # the next link counts from here: the departure at a first stop, the arrival elsewhere,
            # or at a timepoint the bus reached early, when it was due to leave (as predicted)
            mark = e.departure_ts if e.method == "first_stop" else e.arrival_ts
            if hold and e.timepoint and not math.isnan(mark):
                mark = max(mark, e.scheduled_departure_ts - early_s)
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
    def _plan(self, v: VehicleTrack) -> TripPlan:
        """The vehicle's trip and the following trips of its block (made again on a new trip)."""
        plan = v.plan
        if plan is None:
            ix = self.net.index
            assert v.inst is not None and v.entity_id is not None
            trips, insts, serials, entities = [v.trip], [v.inst], [v.serial], [v.entity_id]
            block = int(ix.trip_block[v.trip])
            if block >= 0 and not v.inst.frequency:
                running = self.net.trips_running_on(v.inst.service_date)
                end = int(ix.trip_last_arr_s[v.trip])
                for t in self.net.block_trips_ordered(block).tolist():
                    if t != v.trip and running[t] and int(ix.trip_first_dep_s[t]) >= end - 60:
                        inst = self.net.instance(t, v.inst.service_date)
                        key = (inst.service_date.toordinal(), t, 0)
                        trips.append(t)
                        insts.append(inst)
                        serials.append(self.serial(key, t))
                        entities.append(inst.entity_id(ix))
                        if len(trips) > MAX_FOLLOWING:
                            break
            plan = v.plan = TripPlan(ix, trips, insts, serials, entities)
        return plan

    def publish(
        self, vehicles: list[VehicleTrack], now: float, evidence: set[str], fresh: set[str] | None = None
    ) -> PredictionsMade | None:
        """Predict and publish ``vehicles``; ``fresh`` are those that reported in this batch (the
        others are re-predicted because time passed)."""
        p = self.params
        ix = self.net.index
        active: list[VehicleTrack] = []
        drop_s = p.no_progress_drop_s
        for v in vehicles:
            if v.trip >= 0 and not v.ended and v.inst is not None and v.next_row >= 0 and not (
                v.stalled and v.ts - v.progress_ts > drop_s
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
             fresh is None or v.vehicle_id in fresh, v.speed_mps is not None and v.speed_mps < STANDING_MPS)
            for v in active
        ], dtype=np.float64).reshape(m, 13)
        trip = cols[:, 0].astype(np.int64)
        next_row = cols[:, 1].astype(np.int64)
        vin = VehicleInput(
            trip=trip, shift_ts=cols[:, 8], day_type=cols[:, 7].astype(np.int64), next_row=next_row,
            dist_m=cols[:, 3], fix_ts=cols[:, 4], at_stop=cols[:, 2] == cols[:, 1], stop_arrival_ts=cols[:, 5],
            pace=cols[:, 6],
        )
        plans = [self._plan(v) for v in active]
        f_veh: list[int] = []
        f_trip: list[int] = []
        f_shift: list[float] = []
        part_serial: list[int] = []
        n_plan: list[int] = []
        for i, plan in enumerate(plans):
            trips = plan.trips
            n = len(trips)
            n_plan.append(n)
            part_serial.extend(plan.serials)
            if n > 1:
                f_veh.extend([i] * (n - 1))
                f_trip.extend(trips[1:])
                f_shift.extend(inst.day_start_ts for inst in plan.insts[1:])
        part_start = np.zeros(m + 1, dtype=np.int64)
        part_start[1:] = np.cumsum(n_plan)
        fv = np.array(f_veh, dtype=np.int64)
        following = FollowingTrips(fv, np.array(f_trip, dtype=np.int64), np.array(f_shift), vin.day_type[fv])
        pr = predict_vehicles(self.net, self.model, vin, following, now, p.predict)
        sched_arr = ix.st_arr_s[pr.row] + pr.shift_ts
        n_calls = len(pr.row)
        cs_arr = pr.call_start
        has_calls = cs_arr[1:] > cs_arr[:-1]
        heads = cs_arr[:-1][has_calls]
        next_call = np.zeros(n_calls, dtype=bool)
        next_call[heads] = True
        call_state = call_states(next_call, cols[pr.vehicle, 12] > 0)
        calibrated, sigma = self.calibrator.apply(pr.arrival_ts - now, pr.arrival_ts, sched_arr, pr.sigma_s,
                                                  call_state)
        serials = np.array(part_serial, dtype=np.int64)[part_start[pr.vehicle] + pr.part]
        first_rows = self.net.row_first[pr.row]
        keys = serials * KEY_SPAN + (pr.row - first_rows)
        ev = cols[:, 10] > 0
        arrival, dirs = self._smooth(active, keys, calibrated, ev[pr.vehicle], now)
        # departures move with the arrivals, except from the first stop of a trip, where the bus
        # keeps to its scheduled departure (or the layover the model worked out)
        first_of_trip = pr.row == first_rows
        departure = np.maximum(np.where(first_of_trip, pr.departure_ts, pr.departure_ts + (arrival - pr.arrival_ts)),
                               arrival)

        def delay_at(i: I64) -> F64:
            # a trip's deviation from its timetable, at calls i (only the heads of trip parts are
            # wanted): at its first stop, of the departure (a bus in from its last trip, waiting
            # there for its time, is on time, not early)
            return np.where(first_of_trip[i], departure[i] - (ix.st_dep_s[pr.row[i]] + pr.shift_ts[i]),
                            arrival[i] - sched_arr[i])

        # trip parts: where the part changes within a vehicle's calls
        change = np.ones(n_calls, dtype=bool)
        if n_calls > 1:
            change[1:] = (pr.vehicle[1:] != pr.vehicle[:-1]) | (pr.part[1:] != pr.part[:-1])
        part_lo = np.flatnonzero(change)
        part_hi = np.empty_like(part_lo)
        part_hi[:-1] = part_lo[1:]
        if len(part_hi):
            part_hi[-1] = n_calls
        batch = PredictionBatch(ix, pr.row, arrival, departure, sigma, pr.schedule_based, keys, dirs, part_lo,
                                part_hi, delay_at(part_lo))
        first_part = np.searchsorted(part_lo, cs_arr).tolist()
        cs = cs_arr.tolist()
        # due next: the arrival at the next stop of a bus on its way there (past it, the bus is late
        # and is predicted again as time passes); a bus standing at a stop is predicted from when it
        # got there, which time passing without a fix does not change: it waits for its next fix
        next_due = np.full(m, np.inf)
        next_due[has_calls] = np.where(vin.at_stop[has_calls], np.inf, arrival[heads])
        delay0 = np.full(m, np.nan)
        delay0[has_calls] = delay_at(heads)
        next_due_l = next_due.tolist()
        delay0_l = delay0.tolist()
        raw_of = _RAW
        for i, v in enumerate(active):
            d0 = delay0_l[i]
            p0 = first_part[i]
            pred = VehiclePrediction(batch, v.vehicle_id, cs[i], cs[i + 1], p0, first_part[i + 1] - p0, plans[i],
                                     v.on_ts, next_due_l[i], None if d0 != d0 else d0)
            self._replace(v, VehiclePublication(ix, v.vehicle_id, raw_of(v), pred))
        return PredictionsMade(
            vehicle_ids=[v.vehicle_id for v in active],
            fix_ts=cols[:, 9], fresh=cols[:, 11] > 0,
            vehicle=pr.vehicle, serial=serials, row=pr.row, trip=pr.trip, shift_ts=pr.shift_ts, arrival_ts=arrival,
            departure_ts=departure, sigma_s=sigma, schedule_based=pr.schedule_based, position=pr.row - first_rows,
            model_ts=pr.arrival_ts, model_sigma_s=pr.sigma_s, scheduled_ts=sched_arr, call_state=call_state,
        )

    def _smooth(self, active: list[VehicleTrack], keys: I64, arrival: F64, evidence: NDArray[np.bool_],
                now: float) -> tuple[F64, NDArray[np.int8]]:
        """Damp against what each vehicle showed: its previous calls, gathered from the batches
        they were published in (one take per batch, not three slices per vehicle)."""
        ranges: dict[int, tuple[PredictionBatch, list[int], list[int]]] = {}
        for v in active:
            pub = v.pub
            pred = pub.pred if pub is not None else None
            if pred is not None and pred.hi > pred.lo:
                r = ranges.get(id(pred.batch))
                if r is None:
                    r = ranges[id(pred.batch)] = (pred.batch, [], [])
                r[1].append(pred.lo)
                r[2].append(pred.hi)
        if not ranges:
            return arrival, np.zeros(len(keys), dtype=np.int8)
        pk, pa, pd = [], [], []
        for batch, lo, hi in ranges.values():
            take = _ranges(np.array(lo, dtype=np.int64), np.array(hi, dtype=np.int64))
            pk.append(batch.keys[take])
            pa.append(batch.arrival_ts[take])
            pd.append(batch.dirs[take])
        return smooth_predictions(np.concatenate(pk), np.concatenate(pa), np.concatenate(pd), keys, arrival,
                                  evidence, now, self.params.smooth)

    def restate(self, v: VehicleTrack) -> None:
        """Publish a vehicle's new position and status with its previous predictions."""
        old = v.pub
        assert old is not None
        self._replace(v, VehiclePublication(old.index, v.vehicle_id, _RAW(v), old.pred))

    def _publish_idle(self, v: VehicleTrack) -> None:
        """A vehicle without a running trip: shown on the map, predicting nothing."""
        ix = self.net.index
        trip = v.trip
        on = trip >= 0
        state = VehicleState(v.vehicle_id, *vehicle_state_args(
            v.ts, v.lat, v.lon, v.label, v.speed_mps, v.bearing_deg,
            v.entity_id if on else None, ix.trip_ids[trip] if on else None,
            ix.route_ids[ix.trip_route[trip]] if on else None, None, None,
            v.dist_m if on else None,
            int(ix.st_seq[v.next_row]) if on and v.next_row >= 0 and v.ended else None,
            ix.stop_ids[ix.st_stop[v.next_row]] if on and v.next_row >= 0 and v.ended else None,
            VehicleStatus.STOPPED_AT if on and v.ended else VehicleStatus.IN_TRANSIT_TO, None, v.off_route,
            v.how if on else "none", v.stalled,
        ))
        self._replace(v, VehiclePublication(ix, v.vehicle_id, (v.ts,), None, state))

    def _replace(self, v: VehicleTrack, pub: VehiclePublication) -> None:
        old = v.pub
        old_pred = old.pred if old is not None else None
        new_pred = pub.pred
        if old_pred is not new_pred and (
            old_pred is None or new_pred is None or old_pred.plan is not new_pred.plan
            or old_pred.n_parts != new_pred.n_parts
        ):
            self.holdings.update(
                v.vehicle_id, old_pred.entity_parts() if old_pred is not None else {},
                new_pred.entity_parts() if new_pred is not None else {},
                new_pred.plan.trips if new_pred is not None else (), new_pred.plan.insts if new_pred is not None else ())
        v.pub = pub
        self.pubs[v.vehicle_id] = pub

    def withdraw(self, v: VehicleTrack) -> None:
        old = v.pub
        if old is not None and old.pred is not None:
            self.holdings.update(v.vehicle_id, old.pred.entity_parts(), {}, (), ())
        v.pub = None
        self.pubs.pop(v.vehicle_id, None)

    def overdue(self, now: float) -> list[str]:
        """Vehicles on their way to a stop, more than 10 s past the arrival predicted there."""
        limit = now - OVERDUE_S
        return [vid for vid, pub in self.pubs.items()
                if pub.pred is not None and pub.pred.n_parts and pub.pred.next_due_ts < limit]

    # ------------------------------------------------------------------ snapshots
    def snapshot(self, version: int, created_ts: float) -> Snapshot:
        owners, stops = self.holdings.snapshot_taken(created_ts)
        return build_snapshot(version, created_ts, self.net.index, self.pubs, owners, stops, self._stop_cache)

    def take_served(self) -> list[list[Any]]:
        """Rows counted since the last call, to add to ``served_trips`` (and forget)."""
        return self.holdings.take_served()

    def requeue_served(self, rows: list[list[Any]]) -> None:
        self.holdings.requeue_served(rows)
