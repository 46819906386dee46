"""The tracker: one writer applying batches of fixes, pure (``now`` is an argument, no I/O).

Per batch: each vehicle's fixes in time order (in rounds, so a vehicle with three fixes in the
batch has them applied one after the other, while all vehicles of a round are matched together
by numpy); trip assignment where needed; arrival detection; then one vectorised prediction for
every vehicle that moved, smoothed against what was published, and the publications that the
next snapshot is made of.  The async component around it (``component.py``) feeds batches,
stores events and publishes snapshots; ``transit evaluate`` drives the very same object on a
simulated clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transit.core.fix import Fix
from transit.core.snapshot import Snapshot
from transit.prediction.model import DAY_TYPES, ModelParams, SegmentModel
from transit.prediction.predict import PredictParams
from transit.prediction.smoothing import SmoothParams
from transit.schedule.index import ScheduleIndex
from transit.schedule.timetable import TripInstance
from transit.tracking.arrivals import ArrivalEvent, detect_calls
from transit.tracking.assign import AssignParams, Candidate, instance_at, list_candidates
from transit.tracking.matching import match_windows
from transit.tracking.network import SPAN, TrackingNetwork
from transit.tracking.outputs import OVERDUE_S, Outputs, PredictionsMade
from transit.tracking.vehicle import InstanceKey, VehicleTrack


@dataclass(frozen=True, slots=True)
class TrackerParams:
    vehicle_stale_s: float = 300.0
    off_route_m: float = 120.0
    min_layover_s: float = 120.0
    stop_zone_m: float = 30.0
    max_speed_mps: float = 30.0
    window_back_m: float = 60.0
    window_ahead_m: float = 250.0
    #: Off route but within this (effective, as ``off_route_m``) distance of its trip's shape (a
    #: detour a street or two over, or a road that bends away from the straight stop-to-stop
    #: lines of a feed without shapes), a vehicle's progress still follows where it projects onto
    #: the shape, forwards only.  Before, such fixes were dropped: every downstream prediction was
    #: pushed back for as long as the detour lasted (on Capital Metro 4.7% of fixes, mostly on
    #: the lines with the worst accuracy).
    off_route_follow_m: float = 600.0
    #: An inferred assignment off route for this long is dropped and inferred again.
    off_route_patience_s: float = 300.0
    #: Not advancing for this long (away from the first stop) is "no progress"...
    no_progress_s: float = 600.0
    #: ... and for this long, its predictions are withdrawn.
    no_progress_drop_s: float = 1800.0
    history_window_s: float = 3600.0
    history_fixes: int = 12
    #: Re-score an inferred assignment at each of its first fixes, then every n-th fix (and no
    #: more often than every rescore_every_s).
    rescore_first: int = 6
    rescore_every: int = 8
    rescore_every_s: float = 600.0
    #: ... and during the first fixes no more often than this (dense reports add little).
    rescore_min_gap_s: float = 20.0
    rescore_margin: float = 1.0
    #: Past its first fixes, an assignment is changed only for a clearly better one.
    rescore_late_margin: float = 4.0
    #: A candidate is taken only if its score is below base + per_fix x fixes scored.
    accept_base: float = 6.0
    accept_per_fix: float = 2.5
    #: Matched this far behind its progress, a vehicle is going the other way ...
    backwards_m: float = 150.0
    #: ... which within this distance of the end of its trip means it turned round.
    turnaround_m: float = 800.0
    #: A vehicle that ended an inferred trip is inferred again once this far from the terminal.
    terminal_leave_m: float = 150.0
    #: A vehicle stays on a trip it ended for this long, then is unassigned.
    ended_keep_s: float = 1800.0
    #: A silent vehicle's tracking state (not its publication) is kept this long.
    dormant_keep_s: float = 3600.0
    #: A vehicle's predictions are recomputed at a fix only if its last ones are this old (or it
    #: passed a stop, changed trip, is late for its next stop, ...): at 10 s reports, every third
    #: fix; between stops a fix 10 s on rarely moves a prediction past the damping's dead band.
    predict_interval_s: float = 25.0
    #: Vehicles on their way to a stop and late for the arrival predicted there are re-predicted
    #: this often without fixes (a bus standing at a stop waits for its next fix).
    refresh_s: float = 5.0
    assign: AssignParams = field(default_factory=AssignParams)
    model: ModelParams = field(default_factory=ModelParams)
    predict: PredictParams = field(default_factory=PredictParams)
    smooth: SmoothParams = field(default_factory=SmoothParams)

    @staticmethod
    def from_settings(tracking: Any) -> TrackerParams:
        return TrackerParams(
            vehicle_stale_s=tracking.vehicle_stale_s, off_route_m=tracking.off_route_m,
            off_route_follow_m=tracking.off_route_follow_m,
            min_layover_s=tracking.min_layover_s,
            predict=PredictParams(min_layover_s=tracking.min_layover_s, hold_at_timepoints=tracking.hold_at_timepoints,
                                  timepoint_early_s=tracking.timepoint_early_s),
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    events: list[ArrivalEvent]
    predictions: PredictionsMade | None
    applied: int
    ignored: int
    removed: list[str]


class _Claimed:
    """Instances run by other (live) vehicles, seen from one vehicle."""

    __slots__ = ("_claims", "_me")

    def __init__(self, claims: dict[InstanceKey, str], me: str) -> None:
        self._claims = claims
        self._me = me

    def __contains__(self, key: object) -> bool:
        owner = self._claims.get(key)  # type: ignore[call-overload]
        return owner is not None and owner != self._me

    def __bool__(self) -> bool:
        return bool(self._claims)


class Tracker:
    def __init__(self, index: ScheduleIndex, params: TrackerParams | None = None) -> None:
        self.params = params = params or TrackerParams()
        self.vehicles: dict[str, VehicleTrack] = {}
        self._claims: dict[InstanceKey, str] = {}
        self.counters: dict[str, int] = {
            "fixes": 0, "not_live": 0, "out_of_order": 0, "unknown_trip": 0, "unknown_block": 0,
            "unknown_route": 0, "inferences": 0, "assignments": 0, "reassignments": 0, "arrivals": 0,
            "off_route": 0, "stale_removed": 0, "trips_ended": 0,
        }
        self._last_refresh = -math.inf
        self.set_schedule(index)

    # ------------------------------------------------------------------ schedule
    def set_schedule(self, index: ScheduleIndex, now: float | None = None) -> None:
        """A new feed version: rebuild everything derived from the old one.  Vehicles keep their
        positions and history; with ``now`` their last fixes are applied again at once (trips
        found anew in the new schedule), else they are assigned again on their next fix."""
        self.index = index
        self.net = TrackingNetwork(index)
        self.model = SegmentModel(self.net, self.params.model)
        self.outputs = Outputs(self.net, self.model, self.params)
        self._claims.clear()
        last = []
        for v in self.vehicles.values():
            v.clear_trip()
            v.pub = None
            v.prev_end = None
            v.prev_route = -1
            if v.ts > -math.inf:
                last.append(Fix(v.vehicle_id, v.ts, v.lat, v.lon, v.speed_mps, v.bearing_deg, v.given_trip,
                                v.given_route, v.given_block, v.given_start_date, v.given_start_time, v.label))
                v.ts = -math.inf
                v.given_trip = v.given_route = v.given_block = None
                if v.hist_ts:
                    v.hist_ts.pop(), v.hist_x.pop(), v.hist_y.pop(), v.hist_trip.pop()
        if now is not None and last:
            self.apply(last, now)

    # ------------------------------------------------------------------ batches
    def apply(self, fixes: Sequence[Fix], now: float) -> BatchResult:
        events: list[ArrivalEvent] = []
        groups: dict[str, list[Fix]] = {}
        ignored = 0
        for f in fixes:
            if not f.live:
                ignored += 1
                continue
            g = groups.get(f.vehicle_id)
            if g is None:
                groups[f.vehicle_id] = [f]
            else:
                g.append(f)
        self.counters["not_live"] += ignored
        rounds = 0
        for g in groups.values():
            if len(g) > 1:
                g.sort(key=lambda f: f.ts)
            rounds = max(rounds, len(g))
        touched: dict[str, VehicleTrack] = {}
        evidence: set[str] = set()
        applied = 0
        for k in range(rounds):
            batch = [g[k] for g in groups.values() if len(g) > k]
            applied += self._apply_round(batch, now, events, touched, evidence)
        self.counters["fixes"] += applied
        self.counters["arrivals"] += len(events)
        if events:
            self.outputs.learn(events, self.vehicles, now)
        fresh = set(touched)
        if now - self._last_refresh >= self.params.refresh_s:
            self._last_refresh = now
            for vid in self.outputs.overdue(now):
                if vid not in touched and vid in self.vehicles:
                    touched[vid] = self.vehicles[vid]
        # a vehicle that reported again soon after its last prediction, without passing a stop,
        # changing trip or being late for its next stop, keeps its predictions (damping would hold
        # most of them anyway) and only shows its new position; time passing without fixes is
        # covered by the overdue refresh above
        interval = self.params.predict_interval_s
        late = now - OVERDUE_S
        to_predict = []
        for vid, v in touched.items():
            pred = v.pub.pred if v.pub is not None else None
            if (interval > 0 and pred is not None and pred.n_parts and vid in fresh and vid not in evidence
                    and pred.serial == v.serial and v.trip >= 0 and not v.ended
                    and v.ts - pred.last_fix_ts < interval and pred.next_due_ts >= late):
                self.outputs.restate(v)
            else:
                to_predict.append(v)
        made = self.outputs.publish(to_predict, now, evidence, fresh) if to_predict else None
        removed = self.expire(now)
        return BatchResult(events, made, applied, ignored + (len(fixes) - ignored - applied), removed)

    def expire(self, now: float) -> list[str]:
        """Vehicles silent for longer than vehicle_stale_s leave the snapshot (no ghost buses);
        their tracking state is kept a while longer, so a bus back from a radio gap carries on
        with its trip instead of starting over."""
        p = self.params
        limit = now - p.vehicle_stale_s
        gone = []
        forget = []
        for vid, v in self.vehicles.items():
            if v.ts < limit:
                if v.pub is not None:
                    gone.append(vid)
                if v.ts < now - p.dormant_keep_s:
                    forget.append(vid)
        for vid in gone:
            v = self.vehicles[vid]
            self._release(v)
            self.outputs.withdraw(v)
        for vid in forget:
            del self.vehicles[vid]
        self.counters["stale_removed"] += len(gone)
        return gone

    def snapshot(self, version: int, created_ts: float) -> Snapshot:
        return self.outputs.snapshot(version, created_ts)

    # ------------------------------------------------------------------ one round
    def _apply_round(
        self, batch: list[Fix], now: float, events: list[ArrivalEvent], touched: dict[str, VehicleTrack],
        evidence: set[str],
    ) -> int:
        n = len(batch)
        lat = np.fromiter((f.lat for f in batch), dtype=np.float64, count=n)
        lon = np.fromiter((f.lon for f in batch), dtype=np.float64, count=n)
        xs, ys = self.index.projection.to_xy(lat, lon)
        hot: list[VehicleTrack] = []
        applied = 0
        vehicles = self.vehicles
        for f, x, y in zip(batch, xs.tolist(), ys.tolist(), strict=True):
            v = vehicles.get(f.vehicle_id)
            if v is None:
                v = vehicles[f.vehicle_id] = VehicleTrack(f.vehicle_id)
            if f.ts <= v.ts:
                self.counters["out_of_order"] += 1
                continue
            applied += 1
            v.ts = f.ts
            v.lat, v.lon, v.x, v.y = f.lat, f.lon, x, y
            v.speed_mps = f.speed_mps
            v.bearing_deg = f.bearing_deg
            if f.label:
                v.label = f.label
            v.remember(f.ts, x, y, f.trip_id)
            touched[v.vehicle_id] = v
            if v.pub is None and v.inst_key is not None:
                self._claims.setdefault(v.inst_key, v.vehicle_id)  # back from silence
            if self._assign(v, f, evidence):
                continue
            if v.trip >= 0 and not v.ended:
                hot.append(v)
        if hot:
            self._match(hot, events, evidence)
        return applied

    # ------------------------------------------------------------------ assignment
    def _assign(self, v: VehicleTrack, f: Fix, evidence: set[str]) -> bool:
        """Decide the vehicle's trip for this fix.  True when the fix is fully handled here (a new
        assignment placed it, or there is nothing to match it against)."""
        ix = self.index
        p = self.params
        if f.trip_id:
            if v.how == "trip_id" and v.given_trip == f.trip_id and v.trip >= 0 \
                    and v.given_start_date == f.start_date:
                return v.ended  # an ended trip stays until the vehicle reports its next one
            trip = ix.find_trip(f.trip_id)
            if trip is not None:
                v.given_trip, v.given_start_date, v.given_start_time = f.trip_id, f.start_date, f.start_time
                cands = self._candidates(v, trips=[trip], same_trip=True, limit=50)
                cands = self._filter_start(cands, f.start_date, f.start_time)
                if cands:
                    self._take(v, cands[0], "trip_id", evidence)
                    return True
                inst = self._instance_by_time(trip, f.ts, f.start_date, f.start_time)
                if inst is not None:
                    self._take_unplaced(v, trip, inst, "trip_id", evidence)
                    return True
            if v.given_trip != f.trip_id:
                self.counters["unknown_trip"] += 1
                v.given_trip = f.trip_id
        block = None
        if f.block_id:
            block = ix.find_block(f.block_id)
            if block is None and v.given_block != f.block_id:
                self.counters["unknown_block"] += 1
            v.given_block = f.block_id
        if block is not None:
            if v.how == "block" and v.trip >= 0 and int(ix.trip_block[v.trip]) == block:
                return v.ended
            cands = self._candidates(v, blocks=[block])
            if cands:  # the block is given: its best trip, however late or early the bus runs
                self._take(v, cands[0], "block", evidence)
            return True
        route = None
        if f.route_id:
            route = ix.find_route(f.route_id)
            if route is None and v.given_route != f.route_id:
                self.counters["unknown_route"] += 1
            v.given_route = f.route_id
        routes = [route] if route is not None else None
        if v.trip >= 0 and v.how in ("inferred", "layover", "block", "trip_id"):
            if routes is not None and int(ix.trip_route[v.trip]) != route:
                pass  # the vehicle changed line: infer again below
            elif v.ended:
                if v.how == "trip_id" and f.trip_id:
                    return True
                term = int(self.net.trip_last_stop[v.trip])
                away = math.hypot(v.x - float(ix.stop_x[term]), v.y - float(ix.stop_y[term]))
                if away < p.terminal_leave_m and v.ts - v.assigned_ts < p.ended_keep_s + 86400:
                    return True
            else:
                v.since_rescore += 1
                if (v.fixes_on_trip <= p.rescore_first and v.ts - v.rescored_ts >= p.rescore_min_gap_s) or (
                    v.since_rescore >= p.rescore_every and v.ts - v.rescored_ts >= p.rescore_every_s
                ):
                    v.since_rescore = 0
                    v.rescored_ts = v.ts
                    cands = self._candidates(v, routes=routes, limit=12)
                    if not cands:
                        return False
                    best = cands[0]
                    if best.key != v.inst_key:
                        cur = next((c for c in cands if c.key == v.inst_key), None)
                        margin = p.rescore_margin if v.fixes_on_trip <= p.rescore_first else p.rescore_late_margin
                        if (cur is None or best.score < cur.score - margin) and self._acceptable(best):
                            self.counters["reassignments"] += 1
                            self._take(v, best, "layover" if best.at_first_stop else "inferred", evidence)
                            return True
                return False
        self.counters["inferences"] += 1
        cands = self._candidates(v, routes=routes)
        if cands and self._acceptable(cands[0]):
            best = cands[0]
            self._take(v, best, "layover" if best.at_first_stop else "inferred", evidence)
        elif v.trip >= 0:
            self._release(v)
            v.clear_trip()
        return True

    def _acceptable(self, c: Candidate) -> bool:
        return c.score < self.params.accept_base + self.params.accept_per_fix * c.n_fixes

    def _candidates(
        self, v: VehicleTrack, *, trips: list[int] | None = None, routes: list[int] | None = None,
        blocks: list[int] | None = None, same_trip: bool = False, limit: int = 8,
    ) -> list[Candidate]:
        p = self.params
        ts = v.hist_ts
        n = len(ts)
        lo = max(v.ts - p.history_window_s, v.hist_from_ts)
        keep = [i for i in range(n) if ts[i] >= lo and (not same_trip or v.hist_trip[i] == v.hist_trip[-1])]
        keep = keep[-p.history_fixes:]
        days = self.net.instances_around(v.ts)
        return list_candidates(
            self.net, days, np.array([ts[i] for i in keep]), np.array([v.hist_x[i] for i in keep]),
            np.array([v.hist_y[i] for i in keep]), p.off_route_m, routes=routes, trips=trips, blocks=blocks,
            claimed=_Claimed(self._claims, v.vehicle_id),
            prev_end=v.prev_end if v.prev_end is not None and v.ts - v.prev_end[1] < 3600 else None,
            prev_route=v.prev_route if v.prev_route >= 0 else None,
            params=p.assign, limit=limit,
        )

    def _filter_start(self, cands: list[Candidate], start_date: str | None, start_time: str | None) -> list[Candidate]:
        """Keep the instances matching a GTFS-RT start date / start time, when the fix gave them."""
        if not start_date and not start_time:
            return cands
        out = []
        for c in cands:
            if start_date and c.instance.service_date.strftime("%Y%m%d") != start_date:
                continue
            if start_time and c.instance.frequency and c.instance.start_time(self.index) != start_time:
                continue
            out.append(c)
        return out

    def _instance_by_time(
        self, trip: int, ts: float, start_date: str | None, start_time: str | None
    ) -> TripInstance | None:
        """The instance of ``trip`` nearest in time (the vehicle is not near its shape yet)."""
        days = self.net.instances_around(ts)
        rows = np.flatnonzero(days.trip == trip)
        cands = [Candidate(trip, 0.0, 0.0, 0.0, 0.0, False, instance_at(days, int(i))) for i in rows]
        cands = self._filter_start(cands, start_date, start_time)
        if not cands:
            return None
        return min(cands, key=lambda c: abs(0.5 * (c.instance.start_ts + c.instance.end_ts) - ts)).instance

    def _take(self, v: VehicleTrack, c: Candidate, how: str, evidence: set[str]) -> None:
        self._set_instance(v, c.trip, c.instance, how, evidence)
        ix = self.index
        along = c.along_m
        v.dist_m = along
        v.on_ts = v.ts
        v.off_route = c.dist_m > self.params.off_route_m
        first = int(ix.trip_st_start[c.trip])
        last = int(ix.trip_st_start[c.trip + 1]) - 1
        zone = self.params.stop_zone_m
        r = int(np.searchsorted(self.net.row_key, c.trip * SPAN + along - zone, side="left"))
        r = min(max(r, first), last)
        v.next_row = r
        if abs(float(ix.st_dist_m[r]) - along) <= zone:
            v.zone_row = r
            v.zone_arr_ts = math.nan
            v.zone_method = "at_stop"
        v.progress_m = along

    def _take_unplaced(self, v: VehicleTrack, trip: int, inst: TripInstance, how: str, evidence: set[str]) -> None:
        self._set_instance(v, trip, inst, how, evidence)
        v.dist_m = 0.0
        v.on_ts = v.ts
        v.off_route = True
        v.off_since_ts = v.ts
        v.next_row = int(self.index.trip_st_start[trip])

    def _set_instance(self, v: VehicleTrack, trip: int, inst: TripInstance, how: str, evidence: set[str]) -> None:
        key: InstanceKey = (inst.service_date.toordinal(), trip, inst.offset_s)
        if key != v.inst_key:
            self._release(v)
            v.clear_trip()
            self._claims[key] = v.vehicle_id
            self.counters["assignments"] += 1
        v.trip = trip
        v.prev_route = int(self.index.trip_route[trip])
        v.inst = inst
        v.inst_key = key
        v.serial = self.outputs.serial(key, trip)
        v.entity_id = inst.entity_id(self.index)
        v.how = how
        v.day_type = DAY_TYPES.index(self.index.day_type(inst.service_date))
        v.ended = False
        v.fixes_on_trip = 1
        v.assigned_ts = v.ts
        v.progress_ts = v.ts
        v.since_rescore = 0
        evidence.add(v.vehicle_id)

    def _release(self, v: VehicleTrack) -> None:
        if v.inst_key is not None and self._claims.get(v.inst_key) == v.vehicle_id:
            del self._claims[v.inst_key]

    # ------------------------------------------------------------------ matching
    def _match(self, hot: list[VehicleTrack], events: list[ArrivalEvent], evidence: set[str]) -> None:
        p = self.params
        ix = self.index
        net = self.net
        m = len(hot)
        trips = np.fromiter((v.trip for v in hot), dtype=np.int64, count=m)
        d = np.fromiter((v.dist_m for v in hot), dtype=np.float64, count=m)
        gap = np.fromiter((v.ts - v.on_ts for v in hot), dtype=np.float64, count=m)
        speed = np.fromiter((v.speed_est for v in hot), dtype=np.float64, count=m)
        off = np.fromiter((v.off_route for v in hot), dtype=bool, count=m)
        px = np.fromiter((v.x for v in hot), dtype=np.float64, count=m)
        py = np.fromiter((v.y for v in hot), dtype=np.float64, count=m)
        gap = np.clip(gap, 0.0, 3600.0)
        lo = d - p.window_back_m
        hi = d + p.window_ahead_m + p.max_speed_mps * gap + np.where(off, 500.0, 0.0)
        expect = d + speed * gap
        res = match_windows(net, ix.trip_shape[trips], px, py, lo, hi, expect, p.off_route_m)
        next_rows = np.fromiter((v.next_row for v in hot), dtype=np.int64, count=m)
        s_next = ix.st_dist_m[next_rows] - p.stop_zone_m
        zone = p.stop_zone_m
        for v, along, dist, sn in zip(hot, res.along_m.tolist(), res.dist_m.tolist(), s_next.tolist(), strict=True):
            v.fixes_on_trip += 1
            if dist > p.off_route_m:
                if not v.off_route:
                    v.off_route = True
                    v.off_since_ts = v.ts
                    self.counters["off_route"] += 1
                elif v.how in ("inferred", "layover") and v.ts - v.off_since_ts > p.off_route_patience_s:
                    self._off_route_too_long(v, evidence)
                    continue
                if dist > p.off_route_follow_m:
                    continue
                along = self._short_of_zone(v, along)
            else:
                v.off_route = False
                if along < v.dist_m - p.backwards_m and v.how != "trip_id":
                    # going the other way along this shape: near the end that is the turnaround,
                    # elsewhere the assignment is suspect and gets re-scored now
                    if float(net.trip_length_end[v.trip]) - v.dist_m < p.turnaround_m:
                        self._end_trip(v, evidence)
                        continue
                    v.since_rescore = p.rescore_every
            new_d = along if along > v.dist_m else v.dist_m
            if v.ts > v.on_ts and new_d - v.dist_m > 20.0:
                sp = (new_d - v.dist_m) / (v.ts - v.on_ts)
                if sp > 1.0:
                    v.speed_est = 0.7 * v.speed_est + 0.3 * min(sp, 25.0)
            if new_d >= sn or v.zone_row >= 0:
                first = int(net.row_first[v.next_row])
                last = int(net.row_last[v.next_row])
                before = len(events)
                ended = detect_calls(net, v, v.on_ts, v.dist_m, v.ts, new_d, first, last, zone, events)
                if len(events) > before:
                    evidence.add(v.vehicle_id)
                    if v.how == "layover" and v.next_row > first:
                        v.how = "inferred"
                if ended:
                    v.dist_m = new_d
                    v.on_ts = v.ts
                    self._end_trip(v, evidence)  # may move the vehicle on to its next trip
                    continue
            v.dist_m = new_d
            v.on_ts = v.ts
            if new_d - v.progress_m > 30.0:
                v.progress_m = new_d
                v.progress_ts = v.ts
                v.stalled = False
            elif v.ts - v.progress_ts > p.no_progress_s and v.zone_row != int(net.row_first[v.next_row]):
                v.stalled = True

    def _short_of_zone(self, v: VehicleTrack, along: float) -> float:
        """Where a bus off route is taken to be: where it projects onto its trip, but short of any
        stop's zone there.  It is not at that stop (it is off the road), so it passes the stop,
        timed between fixes, only once it projects beyond it."""
        dist = self.index.st_dist_m
        zone = self.params.stop_zone_m
        lo, hi = v.next_row, int(self.net.row_last[v.next_row])
        k = lo + int(np.searchsorted(dist[lo:hi + 1], along - zone, side="left"))
        if k <= hi and float(dist[k]) - zone <= along:
            return max(v.dist_m, float(dist[k]) - zone - 0.5)
        return along

    def _off_route_too_long(self, v: VehicleTrack, evidence: set[str]) -> None:
        """An inferred assignment off its route for a while: another trip may explain the fixes
        (switch to it); if none does, the bus is on a detour and keeps its trip until the trip's
        scheduled end has long passed."""
        routes = [int(self.index.trip_route[v.trip])] if v.given_route else None
        cands = self._candidates(v, routes=routes, limit=4)
        best = cands[0] if cands else None
        if best is not None and best.key != v.inst_key and best.dist_m <= self.params.off_route_m \
                and self._acceptable(best):
            self.counters["reassignments"] += 1
            self._take(v, best, "layover" if best.at_first_stop else "inferred", evidence)
            return
        assert v.inst is not None
        if v.ts > v.inst.end_ts + self.params.ended_keep_s:
            self._release(v)
            v.clear_trip()
            v.hist_from_ts = v.off_since_ts - 1.0

    def _end_trip(self, v: VehicleTrack, evidence: set[str]) -> None:
        """The vehicle reached the last stop.  With a block, it moves on to the block's next trip
        (a layover at its first stop); otherwise it stays on the ended trip until it leaves the
        terminal (inferred) or reports its next trip (given trip ids)."""
        self.counters["trips_ended"] += 1
        ix = self.index
        assert v.inst is not None
        term = int(self.net.trip_last_stop[v.trip])
        v.prev_end = (term, v.ts)
        v.ended = True
        v.hist_from_ts = v.ts - 1.0  # the next trip is inferred from here on
        nxt = self._next_in_block(v) if v.how in ("block", "inferred", "layover") else None
        if nxt is None:
            return
        trip, inst = nxt
        arrived = v.ts
        self._set_instance(v, trip, inst, "block" if v.how == "block" else "layover", evidence)
        first = int(ix.trip_st_start[trip])
        v.next_row = first
        v.dist_m = 0.0
        v.on_ts = v.ts
        v.progress_m = 0.0
        if int(ix.st_stop[first]) == term:
            v.zone_row = first
            v.zone_arr_ts = arrived
            v.zone_method = "at_stop"
        v.prev_end = (term, arrived)

    def _next_in_block(self, v: VehicleTrack) -> tuple[int, TripInstance] | None:
        ix = self.index
        block = int(ix.trip_block[v.trip])
        if block < 0 or v.inst is None or v.inst.frequency:
            return None
        order = self.net.block_trips_ordered(block)
        running = self.net.trips_running_on(v.inst.service_date)
        after = [int(t) for t in order if running[t] and ix.trip_first_dep_s[t] >= ix.trip_last_arr_s[v.trip] - 60
                 and int(t) != v.trip]
        if not after:
            return None
        trip = after[0]
        return trip, self.net.instance(trip, v.inst.service_date)

    # ------------------------------------------------------------------ introspection
    def statistics(self) -> dict[str, Any]:
        assigned = sum(1 for v in self.vehicles.values() if v.trip >= 0 and not v.ended)
        return {
            "vehicles": len(self.vehicles), "assigned": assigned, "feed_id": self.index.feed_id,
            **self.counters, "model": self.model.statistics(),
        }
