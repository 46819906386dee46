"""Trip assignment: which trip instance a vehicle is running, scored over its last few fixes.

A candidate is a trip instance whose shape passes near the vehicle and whose schedule window
covers the time.  For each candidate the fixes are placed along its shape (a point on a loop may
have two places; a small dynamic programme picks the order that keeps progress moving forward
and the delay steady) and the candidate is scored like a negative log-likelihood:

* distance of each fix from the shape (GPS noise ~35 m; farther than off-route counts as a miss);
* going backwards along the shape (a bus running the other direction goes backwards on it);
* the delay changing between fixes more than traffic explains;
* the delay itself (a little early is rare, late is common, an hour off is not this trip);
* another vehicle already running that instance, and where the vehicle ended its last trip.

Waiting at the first stop before departure is not being early: there the delay counts from the
scheduled departure only once it has passed, and a small cost for the wait makes the next
departure win over a later one.  The same scorer validates a given trip (one candidate), resolves
a block (its trips only) and infers from a line or from nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transit.schedule.timetable import TripInstance
from transit.tracking.matching import shape_options
from transit.tracking.network import SPAN, DayInstances, TrackingNetwork

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AssignParams:
    gps_sigma_m: float = 35.0
    miss_cost: float = 8.0  # a fix farther than off_route_m from the shape
    back_tolerance_m: float = 40.0
    back_cost_per_m: float = 1.0 / 25.0
    delay_step_sigma_s: float = 60.0
    delay_step_sigma_per_s: float = 0.15
    #: Delay when the vehicle joins a trip near its start (buses leave close to schedule) ...
    start_early_sigma_s: float = 150.0
    start_late_sigma_s: float = 420.0
    #: ... when it is first seen in the middle of a trip ...
    early_sigma_s: float = 300.0
    late_sigma_s: float = 900.0
    #: ... and, weakly, at the newest fix.
    now_early_sigma_s: float = 900.0
    now_late_sigma_s: float = 2400.0
    #: Joining a trip far from its start, after fixes that were not on it, costs per metre.
    join_cost_per_m: float = 1.0 / 1500.0
    join_start_m: float = 1500.0
    wait_cost_per_s: float = 1.0 / 900.0
    claimed_cost: float = 1.5
    #: Cost per fix of "the vehicle was not on this trip yet" (fixes from its previous trip).
    before_trip_cost: float = 3.5
    continuity_bonus: float = 1.5
    #: Buses mostly stay on their line all day: a candidate of the line the vehicle last ran.
    same_route_bonus: float = 2.0
    #: How long before its start a trip is a candidate (bus waiting at the first stop).
    before_start_s: float = 2700.0
    #: How long after its scheduled end a trip is still a candidate (a late bus).
    after_end_s: float = 3600.0
    terminal_zone_m: float = 60.0


@dataclass(frozen=True, slots=True)
class Candidate:
    trip: int
    score: float
    along_m: float  # progress at the newest fix
    dist_m: float  # distance from the shape at the newest fix
    delay_s: float  # at the newest fix (0 while waiting at the first stop)
    at_first_stop: bool
    instance: TripInstance
    n_fixes: int = 1

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.instance.service_date.toordinal(), self.trip, self.instance.offset_s)


def instance_at(days: DayInstances, i: int) -> TripInstance:
    return TripInstance(
        int(days.trip[i]), dt.date.fromordinal(int(days.day_ordinal[i])), float(days.day_start_ts[i]),
        int(days.offset_s[i]), float(days.start_ts[i]), float(days.end_ts[i]), bool(days.frequency[i]),
    )


def list_candidates(
    net: TrackingNetwork,
    days: DayInstances,
    ts: F64,
    x: F64,
    y: F64,
    off_route_m: float,
    *,
    routes: Sequence[int] | None = None,
    trips: Sequence[int] | None = None,
    blocks: Sequence[int] | None = None,
    claimed: Container[tuple[int, int, int]] | None = None,
    prev_end: tuple[int, float] | None = None,
    prev_route: int | None = None,
    params: AssignParams = AssignParams(),
    limit: int = 5,
) -> list[Candidate]:
    """Candidates for a vehicle whose recent fixes are (ts, x, y), oldest first, best first."""
    ix = net.index
    t_new = float(ts[-1])
    # only the instances of the trips (or of the shapes near the vehicle) are looked at
    if trips is not None:
        pool_ = days.of_trips(np.asarray(trips, dtype=np.int64))
    elif blocks is not None:
        pool_ = days.of_trips(np.flatnonzero(np.isin(ix.trip_block, np.asarray(blocks, dtype=np.int64))))
    else:
        near = net.shapes_near(float(x[-1]), float(y[-1]), off_route_m)
        if len(near) == 0:
            return []
        pool_ = days.of_shapes(near)
    mask = (days.start_ts[pool_] - params.before_start_s <= t_new) & (t_new <= days.end_ts[pool_] + params.after_end_s)
    if routes is not None:
        allow = np.zeros(len(ix.route_ids), dtype=bool)
        allow[np.asarray(routes, dtype=np.int64)] = True
        mask &= allow[ix.trip_route[days.trip[pool_]]]
    if blocks is not None:
        allow = np.zeros(len(ix.block_ids) + 1, dtype=bool)
        allow[np.asarray(blocks, dtype=np.int64)] = True
        mask &= allow[ix.trip_block[days.trip[pool_]]]  # -1 (no block) reads the spare last slot
    cand = pool_[mask]
    if len(cand) == 0:
        return []
    return _score(net, days, cand, ts, x, y, off_route_m, claimed, prev_end, prev_route, params, limit)


def _score(
    net: TrackingNetwork, days: DayInstances, cand: NDArray[np.int64], ts: F64, x: F64, y: F64,
    off_route_m: float, claimed: Container[tuple[int, int, int]] | None, prev_end: tuple[int, float] | None,
    prev_route: int | None, p: AssignParams, limit: int,
) -> list[Candidate]:
    """Score every candidate instance at once: places on each shape (one projection per shape),
    then schedule times, delays and the path choice as (instances x fixes x options) arrays."""
    ix = net.index
    trips = days.trip[cand].astype(np.int64)
    shapes = ix.trip_shape[trips]
    uniq, shape_pos = np.unique(shapes, return_inverse=True)
    n = len(ts)
    k = 3
    opts = shape_options(net, uniq, x, y, off_route_m, k)
    s_along = np.nan_to_num(opts.along_m, nan=0.0)
    s_dist = opts.dist_m
    valid_s = np.isfinite(s_dist)
    miss_s = ~valid_s.any(axis=2)  # (S, n): a fix with no place on that shape
    keep = ~miss_s[shape_pos, -1]  # the newest fix must be on the candidate's shape
    if not keep.any():
        return []
    cand, trips, shape_pos = cand[keep], trips[keep], shape_pos[keep]
    along = s_along[shape_pos]  # (M, n, k)
    valid = valid_s[shape_pos]
    miss = miss_s[shape_pos]
    unary = np.where(valid, 0.5 * (np.minimum(s_dist[shape_pos], off_route_m) / p.gps_sigma_m) ** 2, np.inf)
    unary[:, :, 0] = np.where(miss, p.miss_cost, unary[:, :, 0])
    first_row = ix.trip_st_start[trips]
    last_row = ix.trip_st_start[trips + 1] - 1
    first_d = ix.st_dist_m[first_row][:, None, None]
    last_d = ix.st_dist_m[last_row][:, None, None]
    sched = _sched_seconds(net, trips, first_row, last_row, along)
    shift = days.day_start_ts[cand] + days.offset_s[cand]
    delay = ts[None, :, None] - sched - shift[:, None, None]
    at_first = (along <= first_d + p.terminal_zone_m) & valid
    at_last = (along >= last_d - p.terminal_zone_m) & valid
    cost, path = _best_paths(delay, along - first_d, unary, miss, at_first, at_last, ts, p)
    m = len(cand)
    ar = np.arange(m)
    j_last = path[:, -1]
    a_last = along[ar, -1, j_last]
    d_last = s_dist[shape_pos, -1, j_last]
    last_delay = delay[ar, -1, j_last]
    first_last = at_first[ar, -1, j_last]
    waiting = first_last & (last_delay < 0)
    dl = np.where(waiting, 0.0, last_delay)
    cost = cost + np.where(waiting, 0.0, 0.5 * (dl / np.where(dl < 0, p.now_early_sigma_s, p.now_late_sigma_s)) ** 2)
    if prev_route is not None:
        cost = cost - np.where(ix.trip_route[trips] == prev_route, p.same_route_bonus, 0.0)
    if prev_end is not None:
        stop, end_ts = prev_end
        cont = (net.trip_first_stop[trips] == stop) & (days.start_ts[cand] >= end_ts - 600)
        cost = cost - np.where(cont, p.continuity_bonus, 0.0)
    if claimed:
        # only candidates that could still come first matter; look their claims up
        close = np.flatnonzero(cost <= float(cost.min()) + p.claimed_cost + 1.0)
        if len(close) > 4 * limit:
            close = close[np.argsort(cost[close], kind="stable")[: 4 * limit]]
        ordinals = days.day_ordinal[cand[close]].tolist()
        offsets = days.offset_s[cand[close]].tolist()
        taken = np.fromiter(
            ((o, t, f) in claimed for o, t, f in zip(ordinals, trips[close].tolist(), offsets, strict=True)),
            dtype=bool, count=len(close),
        )
        cost[close[taken]] += p.claimed_cost
    order = np.argsort(cost, kind="stable")[:limit]
    return [
        Candidate(int(trips[q]), float(cost[q]), float(a_last[q]), float(d_last[q]), float(dl[q]),
                  bool(first_last[q]), instance_at(days, int(cand[q])), n)
        for q in order
    ]


def _sched_seconds(
    net: TrackingNetwork, trips: NDArray[np.int64], first_row: NDArray[np.int64], last_row: NDArray[np.int64],
    along: F64,
) -> F64:
    """Scheduled seconds-of-day of each trip at distances ``along`` (M, n, k): due at a call's
    arrival when there, running from one call's departure to the next call's arrival between."""
    ix = net.index
    key = trips[:, None, None].astype(np.float64) * SPAN + along
    r = np.searchsorted(net.row_key, key, side="left")
    r = np.clip(r, (first_row + 1)[:, None, None], last_row[:, None, None])
    d1 = ix.st_dist_m[r]
    d0 = ix.st_dist_m[r - 1]
    t1 = ix.st_arr_s[r].astype(np.float64)
    t0 = ix.st_dep_s[r - 1].astype(np.float64)
    frac = np.clip((along - d0) / np.maximum(d1 - d0, 1e-6), 0.0, 1.0)
    return t0 + frac * (t1 - t0)


def _best_paths(
    delay: F64, along: F64, unary: F64, miss: NDArray[np.bool_], at_first: NDArray[np.bool_],
    at_last: NDArray[np.bool_], ts: F64, p: AssignParams,
) -> tuple[F64, NDArray[np.int64]]:
    """Least-cost choice of one place per fix for each candidate (Viterbi over at most k options
    per fix).  Arrays are (M, n, k) (``miss`` is (M, n)); ``along`` counts from the first stop."""
    m, n, k = delay.shape
    # waiting at the first stop before departure is not a delay; the wait itself costs a little
    eff = np.where(at_first, np.maximum(delay, 0.0), delay)
    wait = np.where(at_first & (delay < 0), -delay * p.wait_cost_per_s, 0.0)
    # joining the trip at fix i: the delay then (tight near the start of the trip, where buses
    # leave close to schedule) and, after fixes that were elsewhere, how far along it joins
    near_start = along <= p.join_start_m
    early = np.where(near_start, p.start_early_sigma_s, p.early_sigma_s)
    late = np.where(near_start, p.start_late_sigma_s, p.late_sigma_s)
    join = 0.5 * (eff / np.where(eff < 0, early, late)) ** 2
    join_later = join + np.maximum(along, 0.0) * p.join_cost_per_m
    # one extra state per fix, "not on this trip yet": older fixes may belong to the previous
    # trip; once on the trip, the path cannot go back to it, and the newest fix must be on it
    un = np.concatenate([unary + wait, np.full((m, n, 1), p.before_trip_cost)], axis=2)
    un[:, -1, k] = np.inf
    cost = un[:, 0].copy()  # (m, k + 1)
    cost[:, :k] += join[:, 0]
    back = np.zeros((m, n, k + 1), dtype=np.int64)
    if n > 1:
        # every transition between consecutive fixes at once: (m, n - 1, k_prev + 1, k + 1)
        gap = np.maximum(1.0, np.diff(ts))
        sigma = (p.delay_step_sigma_s + p.delay_step_sigma_per_s * gap)[None, :, None, None]
        step_back = np.maximum(0.0, along[:, :-1, :, None] - along[:, 1:, None, :] - p.back_tolerance_m)
        change = eff[:, 1:, None, :] - eff[:, :-1, :, None]
        step = np.minimum(0.5 * (change / sigma) ** 2, 12.0)
        # standing at the end of the line, time passes and the bus does not move
        resting = at_last[:, :-1, :, None] & at_last[:, 1:, None, :]
        inner = np.where(resting, 0.0, step) + step_back * p.back_cost_per_m
        either_miss = (miss[:, :-1] | miss[:, 1:])[:, :, None, None]
        trans = np.zeros((m, n - 1, k + 1, k + 1))
        trans[:, :, :k, :k] = np.where(either_miss, 0.0, inner)
        trans[:, :, :k, k] = np.inf
        trans[:, :, k, :k] = join_later[:, 1:]
        for i in range(1, n):
            total = cost[:, :, None] + trans[:, i - 1]  # (m, k_prev + 1, k + 1)
            back[:, i] = np.argmin(total, axis=1)
            cost = total.min(axis=1) + un[:, i]
    cost = cost[:, :k]
    j = np.argmin(cost, axis=1)
    ar = np.arange(m)
    best = cost[ar, j]
    path = np.zeros((m, n), dtype=np.int64)
    path[:, -1] = j
    for i in range(n - 1, 0, -1):
        path[:, i - 1] = back[ar, i, path[:, i]]
    return best, path
