"""Predicting every downstream call of every tracked vehicle, for a whole batch at once.

For each vehicle the calls ahead are laid out as a ragged array (its current trip from the next
call on, then the following trips of its block).  Times run forward from the vehicle's last fix:

* to the next call, the share of its link's distance still ahead x the link's expected time;
  standing at a stop, the links count from its arrival (or from a usual dwell ago, if it has
  been standing longer than that);
* then, call by call, the expected link time (arrival to arrival, ``SegmentModel``); departures
  are arrivals plus the expected dwell;
* at the start of a trip (the first stop, or the next trip of the block after a layover) the
  bus does not leave before its scheduled departure, nor before ``min_layover_s`` after it
  arrived;
* at a timepoint inside the trip a bus running early waits for its time (less
  ``timepoint_early_s``), and the links after it count from then: the model learns them that
  way too (:meth:`transit.tracking.outputs.Outputs.learn`);
* the vehicle's own pace (how much slower or faster than the model it has run this trip)
  scales the next few segments, fading with distance ahead;
* a bus already later than its prediction for the next stop pushes every call back: it has not
  arrived, so it will arrive no earlier than now.

The uncertainty of a call accumulates the variances of the segments before it, partly
correlated (a slow bus tends to stay slow); a layover with enough slack absorbs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transit.prediction.model import SegmentModel
from transit.tracking.network import TrackingNetwork

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class PredictParams:
    min_layover_s: float = 120.0
    #: How strongly, and for how many segments ahead, the vehicle's own pace counts.
    pace_weight: float = 0.0
    pace_fade_segments: float = 6.0
    #: Correlation between consecutive segments' errors.
    correlation: float = 0.35
    #: Uncertainty of where and when the vehicle is now.
    base_sigma_s: float = 15.0
    #: Speed assumed to reach the first stop of a trip from elsewhere (deadhead).
    deadhead_speed_mps: float = 8.0
    #: Following trips of a block are predicted only this far ahead.
    max_ahead_s: float = 3 * 3600.0
    #: Buses wait at timepoints (exact times inside a trip, GTFS ``timepoint`` not 0) rather
    #: than leave more than ``timepoint_early_s`` before their scheduled departure.
    hold_at_timepoints: bool = True
    timepoint_early_s: float = 60.0

    def hold_ts(self, net: TrackingNetwork, rows: I64, shift_ts: F64) -> F64:
        """When a bus on ``rows`` may leave at the earliest, waiting at a timepoint; -inf where
        it does not wait."""
        if not self.hold_at_timepoints:
            return np.full(len(rows), -np.inf)
        dep = net.index.st_dep_s[rows] + shift_ts - self.timepoint_early_s
        return np.where(net.row_hold[rows], dep, -np.inf)


@dataclass(frozen=True, slots=True)
class VehicleInput:
    """One row per vehicle.  ``shift_ts`` turns a trip's GTFS seconds into POSIX seconds (day
    start plus frequency offset); ``stop_arrival_ts`` is NaN unless the vehicle stands at its next
    call; ``arrived_first_ts`` is when it reached the first stop (NaN if unknown)."""

    trip: I64
    shift_ts: F64
    day_type: I64
    next_row: I64
    dist_m: F64
    fix_ts: F64
    at_stop: B
    stop_arrival_ts: F64
    pace: F64


@dataclass(frozen=True, slots=True)
class FollowingTrips:
    """Following trips of each vehicle's block, in running order (``vehicle`` non-decreasing)."""

    vehicle: I64
    trip: I64
    shift_ts: F64
    day_type: I64


@dataclass(frozen=True, slots=True)
class Predictions:
    """Ragged: calls of vehicle ``i`` are ``call_start[i]:call_start[i+1]``; within them, trip
    parts in running order (``part`` 0 is the current trip)."""

    call_start: I64
    vehicle: I64
    part: I64
    trip: I64
    shift_ts: F64
    row: I64
    arrival_ts: F64
    departure_ts: F64
    sigma_s: F64
    schedule_based: B


def _ragged(lo: I64, hi: I64) -> tuple[I64, I64, I64]:
    """Rows lo[i]..hi[i] inclusive for each i: (group, rows, position within group)."""
    count = np.maximum(hi - lo + 1, 0)
    total = int(count.sum())
    starts = np.cumsum(count) - count
    group = np.repeat(np.arange(len(lo)), count)
    pos = np.arange(total) - np.repeat(starts, count)
    return group, np.repeat(lo, count) + pos, pos


def _group_cumsum(values: F64, group: I64, n_groups: int) -> F64:
    cs = np.cumsum(values)
    if len(values) == 0:
        return cs
    first = np.searchsorted(group, np.arange(n_groups))
    before = np.where(first > 0, cs[np.maximum(first - 1, 0)], 0.0)
    return cs - before[group]


@dataclass(frozen=True, slots=True)
class _Part:
    group: I64
    pos: I64
    arr: F64
    dep: F64
    var_sum: F64
    sigma_sum: F64
    sched_share: F64


def predict_vehicles(
    net: TrackingNetwork,
    model: SegmentModel,
    v: VehicleInput,
    following: FollowingTrips,
    now: float,
    params: PredictParams = PredictParams(),
) -> Predictions:
    ix = net.index
    m = len(v.trip)
    last_row = net.row_last[v.next_row] if m else np.zeros(0, dtype=np.int64)
    first_row = net.row_first[v.next_row] if m else np.zeros(0, dtype=np.int64)
    group, rows, pos = _ragged(v.next_row, last_row)
    est = model.expected_links(rows, v.day_type[group], now)
    dwell = np.where(rows == net.row_last[rows], 0.0, model.expected_dwells(rows))
    fade = np.maximum(
        1.0 + params.pace_weight * (v.pace[group] - 1.0) * np.exp(-pos / params.pace_fade_segments), 0.3)
    link = est.mean_s * fade
    var = est.var_s2 * fade * fade

    # the first call ahead: when the vehicle gets there (a0), and from when the links after it
    # count (base0: its arrival, its departure time at the first stop of a trip, or -- a bus
    # standing at a stop longer than usual -- as if it had arrived a usual dwell ago)
    head = np.searchsorted(group, np.arange(m))
    r0 = v.next_row
    s_r = ix.st_dist_m[r0]
    seg_len = np.maximum(s_r - ix.st_dist_m[np.maximum(r0 - 1, 0)], 1.0)
    frac = np.clip((s_r - v.dist_m) / seg_len, 0.0, 1.0)
    is_first = r0 == first_row
    approach = np.where(is_first, np.maximum(s_r - v.dist_m, 0.0) / params.deadhead_speed_mps, frac * link[head])
    a0 = np.where(v.at_stop, np.where(np.isnan(v.stop_arrival_ts), v.fix_ts, v.stop_arrival_ts),
                  v.fix_ts + approach)
    # a bus not yet at its next stop and already past the time predicted for it is late
    a0 = a0 + np.where(v.at_stop, 0.0, np.maximum(0.0, now - a0))
    base0 = np.where(v.at_stop, np.maximum(a0, v.fix_ts - dwell[head]), a0)
    # the first stop of a trip: not before its scheduled departure, nor before a minimum
    # layover after the bus got there (when it came off the block's previous trip)
    sched_dep0 = ix.st_dep_s[r0] + v.shift_ts
    rested = np.where(v.at_stop & ~np.isnan(v.stop_arrival_ts), v.stop_arrival_ts + params.min_layover_s, -np.inf)
    base0 = np.where(is_first, np.maximum(np.maximum(sched_dep0, rested), np.maximum(a0, v.fix_ts)), base0)
    dep0 = np.where(is_first, base0, np.maximum(a0 + dwell[head], np.where(v.at_stop, v.fix_ts, a0)))
    dep0 = np.where(r0 == last_row, a0, dep0)
    var0 = np.where(v.at_stop | is_first, 0.0, frac * frac * var[head])
    hold = params.hold_ts(net, rows, v.shift_ts[group])
    part0 = _chain(group, pos, link, dwell, var, est.learned, hold, a0, base0, dep0, var0, np.sqrt(var0), m)

    # following trips of the block, in order: each starts where the previous part ended
    end_arr = np.full(m, np.nan)
    end_var = np.full(m, np.nan)
    end_sig = np.full(m, np.nan)
    last_idx = np.searchsorted(group, np.arange(m), side="right") - 1
    ok = last_idx >= head
    end_arr[ok] = part0.arr[last_idx[ok]]
    end_var[ok] = part0.var_sum[last_idx[ok]]
    end_sig[ok] = part0.sigma_sum[last_idx[ok]]
    end_stop = net.trip_last_stop[v.trip].astype(np.int64)
    part_no = np.zeros(len(following.vehicle), dtype=np.int64)
    if len(following.vehicle):
        fv = following.vehicle
        part_no = np.arange(len(fv)) - np.searchsorted(fv, fv) + 1  # the k-th following trip is part k
    extra: list[tuple[_Part, I64, I64, F64, int]] = []
    for k in range(1, int(part_no.max()) + 1 if len(part_no) else 1):
        sel = np.flatnonzero(part_no == k)
        veh, trip, shift = following.vehicle[sel], following.trip[sel], following.shift_ts[sel]
        keep = np.isfinite(end_arr[veh]) & (shift + ix.trip_first_dep_s[trip] <= now + params.max_ahead_s)
        sel, veh, trip, shift = sel[keep], veh[keep], trip[keep], shift[keep]
        if len(sel) == 0:
            break
        lo = ix.trip_st_start[trip]
        g, r, p = _ragged(lo, ix.trip_st_start[trip + 1] - 1)
        n_g = len(sel)
        e = model.expected_links(r, following.day_type[sel][g], now)
        dw = np.where(r == net.row_last[r], 0.0, model.expected_dwells(r))
        gap = np.where(net.trip_first_stop[trip] == end_stop[veh], 0.0,
                       _stop_gap_m(net, end_stop[veh], net.trip_first_stop[trip]) / params.deadhead_speed_mps)
        a0 = end_arr[veh] + gap
        sched0 = ix.st_dep_s[lo] + shift
        d0 = np.maximum(sched0, a0 + params.min_layover_s)
        # a layover with slack absorbs lateness: the uncertainty restarts small
        absorbed = sched0 - (a0 + params.min_layover_s) > 2.0 * np.sqrt(np.maximum(end_var[veh], 0.0))
        v0 = np.where(absorbed, params.base_sigma_s**2, end_var[veh])
        s0 = np.where(absorbed, params.base_sigma_s, end_sig[veh])
        part = _chain(g, p, e.mean_s, dw, e.var_s2, e.learned, params.hold_ts(net, r, shift[g]), a0, d0, d0, v0,
                      s0, n_g)
        extra.append((part, veh, trip, shift, k))
        li = np.searchsorted(g, np.arange(n_g), side="right") - 1
        end_arr[veh] = part.arr[li]
        end_var[veh] = part.var_sum[li]
        end_sig[veh] = part.sigma_sum[li]
        end_stop[veh] = net.trip_last_stop[trip]

    # assemble per vehicle: part 0 calls, then the following parts in order
    veh_all = [group] + [veh[part.group] for part, veh, _, _, _ in extra]
    part_all = [np.zeros(len(group), dtype=np.int64)] + [np.full(len(part.group), k) for part, _, _, _, k in extra]
    trip_all = [v.trip[group]] + [trip[part.group] for part, _, trip, _, _ in extra]
    shift_all = [v.shift_ts[group]] + [shift[part.group] for part, _, _, shift, _ in extra]
    row_all = [rows] + [ix.trip_st_start[trip][part.group] + part.pos for part, _, trip, _, _ in extra]
    parts = [part0] + [x[0] for x in extra]
    vehicle = np.concatenate(veh_all)
    part_ix = np.concatenate(part_all)
    row_cat = np.concatenate(row_all)
    order = np.lexsort((row_cat, part_ix, vehicle))
    vehicle = vehicle[order]
    rho = params.correlation
    var_sum = np.concatenate([q.var_sum for q in parts])[order]
    sig_sum = np.concatenate([q.sigma_sum for q in parts])[order]
    sigma = np.sqrt(params.base_sigma_s**2 + (1.0 - rho) * var_sum + rho * sig_sum * sig_sum)
    counts = np.bincount(vehicle, minlength=m) if m else np.zeros(0, dtype=np.int64)
    call_start = np.zeros(m + 1, dtype=np.int64)
    call_start[1:] = np.cumsum(counts)
    return Predictions(
        call_start=call_start, vehicle=vehicle, part=part_ix[order],
        trip=np.concatenate(trip_all)[order].astype(np.int64), shift_ts=np.concatenate(shift_all)[order],
        row=row_cat[order].astype(np.int64), arrival_ts=np.concatenate([q.arr for q in parts])[order],
        departure_ts=np.concatenate([q.dep for q in parts])[order], sigma_s=sigma,
        schedule_based=np.concatenate([q.sched_share for q in parts])[order] > 0.5,
    )


def _chain(
    group: I64, pos: I64, link: F64, dwell: F64, var: F64, learned: B, hold: F64, a0: F64, base0: F64,
    dep0: F64, var0: F64, sig0: F64, n_groups: int,
) -> _Part:
    """Arrivals call by call: the first call at ``a0``, the next at ``base0`` + its link, and so on;
    departures are arrivals plus the expected dwell.  Where ``hold`` is finite (a timepoint) the
    bus does not leave before it, and the links after count from its departure."""
    step = np.where(pos == 0, 0.0, link)
    ahead = _group_cumsum(step, group, n_groups)
    start = base0[group]
    waits = np.isfinite(hold)
    if waits.any():
        # arrival k = base0 + links to k + the longest wait at a timepoint j before k, where the
        # wait at j is (hold_j - (base0 + links to j)): a running maximum within each vehicle
        start = start + _wait_before(np.where(waits, hold - start - ahead, -_FAR), group, pos)
    arr = np.where(pos == 0, a0[group], start + ahead)
    dep = np.where(pos == 0, dep0[group], arr + dwell)
    if waits.any():
        dep = np.maximum(dep, hold)
    v = np.where(pos == 0, 0.0, var)
    var_sum = var0[group] + _group_cumsum(v, group, n_groups)
    sig_sum = sig0[group] + _group_cumsum(np.sqrt(v), group, n_groups)
    # share of the predicted time that came from timetable links (no history, no evidence)
    sched_part = _group_cumsum(np.where(learned, 0.0, step), group, n_groups)
    total = _group_cumsum(step, group, n_groups)
    share = np.where(total > 0, sched_part / np.maximum(total, 1e-9), np.where(learned, 0.0, 1.0))
    return _Part(group, pos, arr, dep, var_sum, sig_sum, share)


#: Beyond any wait (seconds): marks "no timepoint here" in the running maximum.
_FAR = 1e6


def _wait_before(wait: F64, group: I64, pos: I64) -> F64:
    """Per call, the largest positive ``wait`` at an earlier call of the same group (``group``
    non-decreasing; 0 where none)."""
    if len(wait) == 0:
        return wait
    # one running maximum over all groups: each group is lifted clear of the one before it
    lift = group.astype(np.float64) * (4.0 * _FAR)
    running = np.maximum.accumulate(np.clip(wait, -_FAR, _FAR) + lift) - lift
    before = np.empty_like(running)
    before[0] = 0.0
    before[1:] = running[:-1]
    return np.where(pos == 0, 0.0, np.maximum(before, 0.0))


def _stop_gap_m(net: TrackingNetwork, a: I64, b: I64) -> F64:
    ix = net.index
    a = np.maximum(a, 0)
    b = np.maximum(b, 0)
    return np.hypot(ix.stop_x[a] - ix.stop_x[b], ix.stop_y[a] - ix.stop_y[b])
