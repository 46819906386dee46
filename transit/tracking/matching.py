"""Map matching: where along its trip's shape each vehicle is, for a whole batch at once.

A vehicle already on a trip is projected only onto the stretch of shape it can have reached since
its last fix (a window from a little behind its progress to as far as a fast bus could go).
That is what keeps progress continuous: on a loop, or a route that passes the same corner twice,
the other visit lies outside the window, so the bus matches the right ``stop_sequence``.  Inside
the window, the nearest projection wins, with a small pull towards the expected progress so that
parallel carriageways do not swap.

All vehicles of a batch are handled by one set of numpy operations over a ragged layout
(vehicle i owns segments ``start[i]:start[i]+count[i]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transit.tracking.network import SPAN, TrackingNetwork, shape_distance_scale

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class WindowMatch:
    along_m: F64  # distance along the shape of the chosen projection
    dist_m: F64  # distance from the fix to the shape there


def match_windows(
    net: TrackingNetwork,
    shapes: NDArray[np.int32] | I64,
    px: F64,
    py: F64,
    lo_m: F64,
    hi_m: F64,
    expect_m: F64,
    off_route_m: float,
    along_weight: float = 0.05,
) -> WindowMatch:
    """Project each point onto its shape between ``lo_m`` and ``hi_m`` along it.  Distances are
    effective ones (see :func:`shape_distance_scale`)."""
    m = len(shapes)
    if m == 0:
        return WindowMatch(np.zeros(0), np.zeros(0))
    ix = net.index
    shapes = np.asarray(shapes, dtype=np.int64)
    sfirst = ix.shape_start[shapes]
    slast = ix.shape_start[shapes + 1] - 1  # last point of each shape
    base = shapes.astype(np.float64) * SPAN
    a = np.searchsorted(net.point_key, base + np.maximum(lo_m, 0.0), side="right") - 1
    b = np.searchsorted(net.point_key, base + hi_m, side="left")
    a = np.clip(a, sfirst, np.maximum(sfirst, slast - 1))
    b = np.minimum(b, slast)
    b = np.maximum(b, a + 1)
    count = b - a
    total = int(count.sum())
    starts = np.cumsum(count) - count
    group = np.repeat(np.arange(m), count)
    k = np.repeat(a, count) + (np.arange(total) - np.repeat(starts, count))
    ax = ix.shape_x[k]
    ay = ix.shape_y[k]
    dx = net.seg_dx[k]
    dy = net.seg_dy[k]
    ln = net.seg_len[k]
    gx = px[group]
    gy = py[group]
    l2 = np.where(ln > 0, ln * ln, 1.0)
    t = np.clip(((gx - ax) * dx + (gy - ay) * dy) / l2, 0.0, 1.0)
    t = np.where(ln > 0, t, 0.0)
    fx = ax + t * dx
    fy = ay + t * dy
    dist = np.hypot(gx - fx, gy - fy) * shape_distance_scale(net.seg_slack_m[k], off_route_m)
    along = ix.shape_dist_m[k] + t * ln
    cost = dist + along_weight * np.abs(along - expect_m[group])
    mins = np.minimum.reduceat(cost, starts)
    hit = np.flatnonzero(cost <= mins[group])
    first = np.ones(len(hit), dtype=bool)
    first[1:] = group[hit[1:]] != group[hit[:-1]]
    best = hit[first]
    return WindowMatch(along[best], dist[best])


@dataclass(frozen=True, slots=True)
class ShapeOptions:
    """For each shape and point, up to ``k`` places along the shape the point may be (local
    minima of distance): (n_shapes, n_points, k) arrays, NaN / inf where there are fewer."""

    along_m: F64
    dist_m: F64


def shape_options(
    net: TrackingNetwork, shapes: I64, px: F64, py: F64, off_route_m: float, k: int = 3
) -> ShapeOptions:
    """Every plausible projection of each point on each of ``shapes`` (effective distance within
    1.5 x off-route): a loop, or a street used in both halves of a route, gives a point two
    options, and the caller picks by time and order.  One set of numpy operations over all
    (point, segment) pairs of all the shapes."""
    ix = net.index
    shapes = np.asarray(shapes, dtype=np.int64)
    n_s, n = len(shapes), len(px)
    out_a = np.full((n_s, n, k), np.nan)
    out_d = np.full((n_s, n, k), np.inf)
    if n_s == 0 or n == 0:
        return ShapeOptions(out_a, out_d)
    first = ix.shape_start[shapes]
    count = np.maximum(ix.shape_start[shapes + 1] - first - 1, 1)  # segments (>= 1)
    total = int(count.sum())
    starts = np.cumsum(count) - count
    sgrp = np.repeat(np.arange(n_s), count)
    seg = np.repeat(first, count) + (np.arange(total) - np.repeat(starts, count))
    ax, ay = ix.shape_x[seg], ix.shape_y[seg]
    dx, dy = net.seg_dx[seg], net.seg_dy[seg]
    # only segments that can be within reach of some point are projected onto: a segment whose
    # box is farther from the points' box than the effective reach (1.5 x off-route, scaled up on
    # stand-in shapes) cannot hold an option; the runs left are split where segments were dropped
    reach = 1.5 * np.maximum(off_route_m, net.seg_slack_m[seg])
    gx = np.maximum(0.0, np.maximum(np.minimum(ax, ax + dx) - px.max(), px.min() - np.maximum(ax, ax + dx)))
    gy = np.maximum(0.0, np.maximum(np.minimum(ay, ay + dy) - py.max(), py.min() - np.maximum(ay, ay + dy)))
    near = np.flatnonzero(gx * gx + gy * gy <= reach * reach)
    if len(near) == 0:
        return ShapeOptions(out_a, out_d)
    seg, sgrp, ax, ay, dx, dy = seg[near], sgrp[near], ax[near], ay[near], dx[near], dy[near]
    ln = net.seg_len[seg]
    total = len(near)
    head = np.ones(total, dtype=bool)
    head[1:] = (near[1:] != near[:-1] + 1) | (sgrp[1:] != sgrp[:-1])
    tail = np.ones(total, dtype=bool)
    tail[:-1] = head[1:]
    l2 = np.where(ln > 0, ln * ln, 1.0)
    t = np.clip(((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / l2, 0.0, 1.0)  # (n, total)
    t = np.where(ln > 0, t, 0.0)
    dist = np.hypot(px[:, None] - (ax + t * dx), py[:, None] - (ay + t * dy))
    dist = dist * shape_distance_scale(net.seg_slack_m[seg], off_route_m)
    along = ix.shape_dist_m[seg] + t * ln
    # local minima along each shape (plateaus count once), within reach
    inf_col = np.full((n, 1), np.inf)
    left = np.concatenate([inf_col, dist[:, :-1]], axis=1)
    right = np.concatenate([dist[:, 1:], inf_col], axis=1)
    left[:, head] = np.inf
    right[:, tail] = np.inf
    minima = (dist <= left) & (dist < right) & (dist <= 1.5 * off_route_m)
    pi, ci = np.nonzero(minima)
    if len(pi) == 0:
        return ShapeOptions(out_a, out_d)
    g = sgrp[ci]
    d = dist[pi, ci]
    a = along[pi, ci]
    # per (shape, point): merge minima closer than 60 m along (one place, a bend), keep k nearest
    order = np.lexsort((a, pi, g))
    g, pi, d, a = g[order], pi[order], d[order], a[order]
    same = np.zeros(len(g), dtype=bool)
    same[1:] = (g[1:] == g[:-1]) & (pi[1:] == pi[:-1]) & (a[1:] - a[:-1] < 60.0)
    drop = np.zeros(len(g), dtype=bool)
    drop[1:] |= same[1:] & (d[:-1] <= d[1:])
    drop[:-1] |= same[1:] & (d[1:] < d[:-1])
    g, pi, d, a = g[~drop], pi[~drop], d[~drop], a[~drop]
    order = np.lexsort((d, pi, g))
    g, pi, d, a = g[order], pi[order], d[order], a[order]
    key = g * n + pi
    newgrp = np.ones(len(key), dtype=bool)
    newgrp[1:] = key[1:] != key[:-1]
    idx = np.arange(len(key))
    rank = idx - np.maximum.accumulate(np.where(newgrp, idx, 0))
    ok = rank < k
    g, pi, d, a, rank = g[ok], pi[ok], d[ok], a[ok], rank[ok]
    # options of a point in order along the shape
    order = np.lexsort((a, pi, g))
    g, pi, d, a = g[order], pi[order], d[order], a[order]
    key = g * n + pi
    newgrp = np.ones(len(key), dtype=bool)
    newgrp[1:] = key[1:] != key[:-1]
    idx = np.arange(len(key))
    rank = idx - np.maximum.accumulate(np.where(newgrp, idx, 0))
    out_a[g, pi, rank] = a
    out_d[g, pi, rank] = d
    return ShapeOptions(out_a, out_d)
