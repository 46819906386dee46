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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transit.tracking.matching import shape_options
from transit.tracking.network import DayInstances, TrackingNetwork

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AssignParams:
    gps_sigma_m: float = 35.0
    miss_cost: float = 8.0  # a fix farther than off_route_m from the shape
    back_tolerance_m: float = 40.0
    back_cost_per_m: float = 1.0 / 25.0
    delay_step_sigma_s: float = 60.0
    delay_step_sigma_per_s: float = 0.15
    early_sigma_s: float = 150.0
    late_sigma_s: float = 600.0
    wait_cost_per_s: float = 1.0 / 900.0
    claimed_cost: float = 4.0
    continuity_bonus: float = 1.5
    #: How long before its start a trip is a candidate (bus waiting at the first stop).
    before_start_s: float = 2700.0
    #: How long after its scheduled end a trip is still a candidate (a late bus).
    after_end_s: float = 3600.0
    terminal_zone_m: float = 60.0


@dataclass(frozen=True, slots=True)
class Candidate:
    instance: int  # row of DayInstances
    trip: int
    score: float
    along_m: float  # progress at the newest fix
    dist_m: float  # distance from the shape at the newest fix
    delay_s: float  # at the newest fix (0 while waiting at the first stop)
    at_first_stop: bool


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
    claimed: set[tuple[int, int, int]] | None = None,
    prev_end: tuple[int, float] | None = None,
    params: AssignParams = AssignParams(),
    limit: int = 5,
) -> list[Candidate]:
    """Candidates for a vehicle whose recent fixes are (ts, x, y), oldest first, best first."""
    ix = net.index
    t_new = float(ts[-1])
    mask = (days.start_ts - params.before_start_s <= t_new) & (t_new <= days.end_ts + params.after_end_s)
    if trips is not None:
        allow = np.zeros(ix.n_trips, dtype=bool)
        allow[np.asarray(trips, dtype=np.int64)] = True
        mask &= allow[days.trip]
    else:
        near = net.shapes_near(float(x[-1]), float(y[-1]), off_route_m)
        if len(near) == 0:
            return []
        shape_ok = np.zeros(len(ix.shape_ids), dtype=bool)
        shape_ok[near] = True
        mask &= shape_ok[ix.trip_shape[days.trip]]
    if routes is not None:
        allow = np.zeros(len(ix.route_ids), dtype=bool)
        allow[np.asarray(routes, dtype=np.int64)] = True
        mask &= allow[ix.trip_route[days.trip]]
    if blocks is not None:
        allow = np.zeros(len(ix.block_ids) + 1, dtype=bool)
        allow[np.asarray(blocks, dtype=np.int64)] = True
        mask &= allow[ix.trip_block[days.trip]]  # -1 (no block) reads the spare last slot
    cand = np.flatnonzero(mask)
    if len(cand) == 0:
        return []
    out: list[Candidate] = []
    cand_trips = days.trip[cand]
    shapes = ix.trip_shape[cand_trips]
    for shape in np.unique(shapes):
        in_shape = cand[shapes == shape]
        out.extend(_score_shape(net, days, int(shape), in_shape, ts, x, y, off_route_m, claimed, prev_end,
                                params))
    out.sort(key=lambda c: c.score)
    return out[:limit]


def _score_shape(
    net: TrackingNetwork, days: DayInstances, shape: int, inst: NDArray[np.int64], ts: F64, x: F64, y: F64,
    off_route_m: float, claimed: set[tuple[int, int, int]] | None, prev_end: tuple[int, float] | None,
    p: AssignParams,
) -> list[Candidate]:
    ix = net.index
    opts = shape_options(net, shape, x, y, off_route_m * 1.5)
    n, k = opts.along_m.shape
    valid = np.isfinite(opts.dist_m)
    # a fix with no place on this shape gets one "miss" option that leaves the path unconstrained
    miss = ~valid.any(axis=1)
    if miss[-1]:
        return []
    along = np.where(valid, opts.along_m, 0.0)
    unary = np.where(valid, 0.5 * (np.minimum(opts.dist_m, off_route_m) / p.gps_sigma_m) ** 2, np.inf)
    unary[miss, 0] = p.miss_cost
    out: list[Candidate] = []
    trips = days.trip[inst]
    for trip in np.unique(trips):
        rows = ix.trip_calls(int(trip))
        if rows.stop - rows.start < 2:
            continue
        first_d = float(ix.st_dist_m[rows.start])
        last_d = float(ix.st_dist_m[rows.stop - 1])
        sched = net.sched_time_at(int(trip), along.ravel()).reshape(n, k)
        at_first = (along <= first_d + p.terminal_zone_m) & valid
        at_last = (along >= last_d - p.terminal_zone_m) & valid
        sel = inst[trips == trip]
        shift = days.day_start_ts[sel] + days.offset_s[sel]
        delay = ts[None, :, None] - sched[None, :, :] - shift[:, None, None]  # (m, n, k)
        cost, path = _best_paths(delay, along, unary, miss, at_first, at_last, ts, p)
        m = len(sel)
        j_last = path[:, -1]
        a_last = along[-1, j_last]
        d_last = opts.dist_m[-1, j_last]
        last_delay = delay[np.arange(m), -1, j_last]
        first_last = at_first[-1, j_last]
        for q in range(m):
            i = int(sel[q])
            c = float(cost[q])
            dl = float(last_delay[q])
            if first_last[q] and dl < 0:
                dl = 0.0
            else:
                c += 0.5 * (dl / (p.early_sigma_s if dl < 0 else p.late_sigma_s)) ** 2
            if claimed and (int(days.day_ordinal[i]), int(trip), int(days.offset_s[i])) in claimed:
                c += p.claimed_cost
            if prev_end is not None:
                stop, end_ts = prev_end
                if int(net.trip_first_stop[trip]) == stop and days.start_ts[i] >= end_ts - 600:
                    c -= p.continuity_bonus
            out.append(Candidate(i, int(trip), c, float(a_last[q]), float(d_last[q]), dl, bool(first_last[q])))
    return out


def _best_paths(
    delay: F64, along: F64, unary: F64, miss: NDArray[np.bool_], at_first: NDArray[np.bool_],
    at_last: NDArray[np.bool_], ts: F64, p: AssignParams,
) -> tuple[F64, NDArray[np.int64]]:
    """Least-cost choice of one place per fix for each instance (Viterbi over at most k options
    per fix, vectorised over the instances of one trip).  ``delay`` is (m, n, k)."""
    m, n, k = delay.shape
    # waiting at the first stop before departure is not a delay; the wait itself costs a little
    eff = np.where(at_first[None], np.maximum(delay, 0.0), delay)
    wait = np.where(at_first[None] & (delay < 0), -delay * p.wait_cost_per_s, 0.0)
    un = unary[None] + wait  # (m, n, k)
    cost = un[:, 0].copy()  # (m, k)
    back = np.zeros((m, n, k), dtype=np.int64)
    arange_k = np.arange(k)
    for i in range(1, n):
        if miss[i - 1] or miss[i]:
            trans = np.zeros((m, k, k))
        else:
            dt = max(1.0, float(ts[i] - ts[i - 1]))
            step_back = np.maximum(0.0, along[i - 1][:, None] - along[i][None, :] - p.back_tolerance_m)
            sigma = p.delay_step_sigma_s + p.delay_step_sigma_per_s * dt
            change = eff[:, i][:, None, :] - eff[:, i - 1][:, :, None]  # (m, k_prev, k)
            step = np.minimum(0.5 * (change / sigma) ** 2, 12.0)
            # standing at the end of the line, time passes and the bus does not move
            resting = (at_last[i - 1][:, None] & at_last[i][None, :])[None]
            trans = np.where(resting, 0.0, step) + (step_back * p.back_cost_per_m)[None]
        total = cost[:, :, None] + trans  # (m, k_prev, k)
        back[:, i] = np.argmin(total, axis=1)
        cost = np.take_along_axis(total, back[:, i][:, None, :], axis=1)[:, 0, :] + un[:, i]
    j = np.argmin(cost, axis=1)
    best = cost[np.arange(m), j]
    path = np.zeros((m, n), dtype=np.int64)
    path[:, -1] = j
    for i in range(n - 1, 0, -1):
        path[:, i - 1] = back[np.arange(m), i, path[:, i]]
    del arange_k
    return best, path
