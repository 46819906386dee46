"""Predicting every downstream call of every tracked vehicle, for a whole batch at once.

For each vehicle the calls ahead are laid out as a ragged array (its current trip from the next
call on, then the following trips of its block).  Times run forward from the vehicle's last fix:

* the part of the current segment still ahead (share of the segment's distance x its expected
  running time), or, standing at a stop, the rest of its dwell;
* then, call by call, expected running time (``SegmentModel``) and dwell;
* at the start of a trip (the first stop, or the next trip of the block after a layover) the
  bus does not leave before its scheduled departure, nor before ``min_layover_s`` after it
  arrived;
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
    pace_weight: float = 0.6
    pace_fade_segments: float = 6.0
    #: Correlation between consecutive segments' errors.
    correlation: float = 0.35
    #: Uncertainty of where and when the vehicle is now.
    base_sigma_s: float = 15.0
    #: Speed assumed to reach the first stop of a trip from elsewhere (deadhead).
    deadhead_speed_mps: float = 8.0
    #: Following trips of a block are predicted only this far ahead.
    max_ahead_s: float = 3 * 3600.0


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
    rows: I64
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
    dtype_r = v.day_type[group]
    est = model.expected_runs(rows, dtype_r, now)
    dwell = model.expected_dwells(rows)
    dwell = np.where(rows == net.row_last[rows], 0.0, dwell)
    fade = 1.0 + params.pace_weight * (v.pace[group] - 1.0) * np.exp(-pos / params.pace_fade_segments)
    run = est.mean_s * np.maximum(fade, 0.3)
    var = est.var_s2 * np.maximum(fade, 0.3) ** 2

    # first call of each vehicle
    head = np.searchsorted(group, np.arange(m))
    r0 = v.next_row
    s_r = ix.st_dist_m[r0]
    s_prev = ix.st_dist_m[np.maximum(r0 - 1, 0)]
    seg_len = np.maximum(s_r - s_prev, 1.0)
    frac = np.clip((s_r - v.dist_m) / seg_len, 0.0, 1.0)
    is_first = r0 == first_row
    sched_dep0 = ix.st_dep_s[r0] + v.shift_ts
    approach = np.where(
        is_first, np.maximum(s_r - v.dist_m, 0.0) / params.deadhead_speed_mps, frac * run[head]
    )
    arr0 = np.where(v.at_stop, np.where(np.isnan(v.stop_arrival_ts), v.fix_ts, v.stop_arrival_ts),
                    v.fix_ts + approach)
    # a bus not yet at its next stop and already past the time predicted for it is late
    overdue = np.where(v.at_stop, 0.0, np.maximum(0.0, now - arr0))
    arr0 = arr0 + overdue
    dep0 = np.maximum(arr0 + dwell[head], np.where(v.at_stop, v.fix_ts, arr0))
    dep0 = np.where(is_first, np.maximum(dep0, sched_dep0), dep0)
    dep0 = np.where(r0 == last_row, arr0, dep0)
    var0 = np.where(v.at_stop | is_first, 0.0, (frac * frac) * var[head])
    sig0 = np.sqrt(var0)
    part0 = _chain(net, group, rows, pos, head, run, dwell, var, est.learned, arr0, dep0, var0, sig0, m)

    # following trips of the block, in order: each starts where the previous part ended
    end_arr = np.full(m, np.nan)
    end_sig = np.full(m, np.nan)
    end_var = np.full(m, np.nan)
    end_sched = np.zeros(m)
    last_idx = np.searchsorted(group, np.arange(m), side="right") - 1
    ok = last_idx >= np.searchsorted(group, np.arange(m))
    end_arr[ok] = part0.arr[last_idx[ok]]
    end_var[ok] = part0.var_sum[last_idx[ok]]
    end_sig[ok] = part0.sigma_sum[last_idx[ok]]
    end_sched[ok] = part0.sched_share[last_idx[ok]]
    end_stop = net.trip_last_stop[v.trip].astype(np.int64)
    part_no = np.zeros(len(following.vehicle), dtype=np.int64)
    if len(following.vehicle):
        # the k-th following trip of a vehicle is part k+1
        fv = following.vehicle
        starts = np.searchsorted(fv, fv)
        part_no = np.arange(len(fv)) - starts + 1
    extra_parts: list[tuple[_Part, I64, I64, F64, I64]] = []
    for k in range(1, int(part_no.max()) + 1 if len(part_no) else 1):
        sel = np.flatnonzero(part_no == k)
        if len(sel) == 0:
            break
        veh = following.vehicle[sel]
        trip = following.trip[sel]
        shift = following.shift_ts[sel]
        keep = np.isfinite(end_arr[veh]) & (shift + ix.trip_first_dep_s[trip] <= now + params.max_ahead_s)
        sel, veh, trip, shift = sel[keep], veh[keep], trip[keep], shift[keep]
        if len(sel) == 0:
            break
        lo = ix.trip_st_start[trip]
        hi = ix.trip_st_start[trip + 1] - 1
        g, r, p = _ragged(lo, hi)
        n_g = len(sel)
        dt_g = following.day_type[sel]
        e = model.expected_runs(r, dt_g[g], now)
        dw = model.expected_dwells(r)
        dw = np.where(r == net.row_last[r], 0.0, dw)
        h = np.searchsorted(g, np.arange(n_g))
        gap = np.where(net.trip_first_stop[trip] == end_stop[veh], 0.0,
                       _stop_gap_m(net, end_stop[veh], net.trip_first_stop[trip]) / params.deadhead_speed_mps)
        a0 = end_arr[veh] + gap
        sched0 = ix.st_dep_s[lo] + shift
        d0 = np.maximum(sched0, a0 + params.min_layover_s)
        slack = sched0 - (a0 + params.min_layover_s)
        # a layover with slack absorbs lateness: the uncertainty restarts small
        sig_prev = np.sqrt(np.maximum(end_var[veh], 0.0))
        absorbed = slack > 2.0 * sig_prev
        v0 = np.where(absorbed, params.base_sigma_s**2, end_var[veh])
        s0 = np.where(absorbed, params.base_sigma_s, end_sig[veh])
        part = _chain(net, g, r, p, h, e.mean_s, dw, e.var_s2, e.learned, a0, d0, v0, s0, n_g)
        extra_parts.append((part, veh, trip, shift, np.full(n_g, k)))
        li = np.searchsorted(g, np.arange(n_g), side="right") - 1
        end_arr[veh] = part.arr[li]
        end_var[veh] = part.var_sum[li]
        end_sig[veh] = part.sigma_sum[li]
        end_stop[veh] = net.trip_last_stop[trip]

    # assemble per vehicle: part 0 calls, then following parts in order
    veh_all = [group]
    part_all = [np.zeros(len(group), dtype=np.int64)]
    trip_all = [v.trip[group]]
    shift_all = [v.shift_ts[group]]
    row_all = [rows]
    arr_all = [part0.arr]
    dep_all = [part0.dep]
    var_all = [part0.var_sum]
    sig_all = [part0.sigma_sum]
    share_all = [part0.sched_share]
    for part, veh, trip, shift, kk in extra_parts:
        veh_all.append(veh[part.group])
        part_all.append(kk[part.group])
        trip_all.append(trip[part.group])
        shift_all.append(shift[part.group])
        row_all.append(part.rows)
        arr_all.append(part.arr)
        dep_all.append(part.dep)
        var_all.append(part.var_sum)
        sig_all.append(part.sigma_sum)
        share_all.append(part.sched_share)
    vehicle = np.concatenate(veh_all)
    part_ix = np.concatenate(part_all)
    order = np.lexsort((np.concatenate(row_all), part_ix, vehicle))
    vehicle = vehicle[order]
    rho = params.correlation
    var_sum = np.concatenate(var_all)[order]
    sig_sum = np.concatenate(sig_all)[order]
    sigma = np.sqrt(params.base_sigma_s**2 + (1.0 - rho) * var_sum + rho * sig_sum * sig_sum)
    counts = np.bincount(vehicle, minlength=m) if m else np.zeros(0, dtype=np.int64)
    call_start = np.zeros(m + 1, dtype=np.int64)
    call_start[1:] = np.cumsum(counts)
    return Predictions(
        call_start=call_start, vehicle=vehicle, part=part_ix[order],
        trip=np.concatenate(trip_all)[order].astype(np.int64), shift_ts=np.concatenate(shift_all)[order],
        row=np.concatenate(row_all)[order].astype(np.int64), arrival_ts=np.concatenate(arr_all)[order],
        departure_ts=np.concatenate(dep_all)[order], sigma_s=sigma,
        schedule_based=np.concatenate(share_all)[order] > 0.5,
    )


def _chain(
    net: TrackingNetwork, group: I64, rows: I64, pos: I64, head: I64, run: F64, dwell: F64, var: F64,
    learned: B, arr0: F64, dep0: F64, var0: F64, sig0: F64, n_groups: int,
) -> _Part:
    """Arrival and departure at every row from the first row's (arr0, dep0), segment by segment."""
    step = np.where(pos == 0, 0.0, run + dwell)
    dep = dep0[group] + _group_cumsum(step, group, n_groups)
    arr = dep - np.where(pos == 0, 0.0, dwell)
    arr = np.where(pos == 0, arr0[group], arr)
    dep = np.where(pos == 0, dep0[group], dep)
    v = np.where(pos == 0, 0.0, var)
    var_sum = var0[group] + _group_cumsum(v, group, n_groups)
    sig_sum = sig0[group] + _group_cumsum(np.sqrt(v), group, n_groups)
    sched_run = np.where(pos == 0, 0.0, np.where(learned, 0.0, run))
    tot_run = np.where(pos == 0, 0.0, run)
    num = _group_cumsum(sched_run, group, n_groups)
    den = _group_cumsum(tot_run, group, n_groups)
    share = np.where(den > 0, num / np.maximum(den, 1e-9), np.where(learned, 0.0, 1.0))
    del head
    return _Part(group, rows, pos, arr, dep, var_sum, sig_sum, share)


def _stop_gap_m(net: TrackingNetwork, a: I64, b: I64) -> F64:
    ix = net.index
    a = np.maximum(a, 0)
    b = np.maximum(b, 0)
    return np.hypot(ix.stop_x[a] - ix.stop_x[b], ix.stop_y[a] - ix.stop_y[b])
