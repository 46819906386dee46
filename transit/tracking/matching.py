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

from transit.schedule.geometry import project_on_polyline
from transit.tracking.network import SPAN, TrackingNetwork

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
    along_weight: float = 0.05,
) -> WindowMatch:
    """Project each point onto its shape between ``lo_m`` and ``hi_m`` along it."""
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
    dist = np.hypot(gx - fx, gy - fy)
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
    """For each point, up to ``k`` places along one shape it may be (local minima of distance)."""

    along_m: F64  # (n_points, k), NaN where fewer options
    dist_m: F64  # (n_points, k), inf where fewer options


def shape_options(
    net: TrackingNetwork, shape: int, px: F64, py: F64, max_dist_m: float, k: int = 3
) -> ShapeOptions:
    """Every plausible projection of each point on ``shape``: a loop or a street used in both
    halves of a route gives a point two options, and the caller picks by time and order."""
    ix = net.index
    sl = ix.shape_points(shape)
    dist, along, _ = project_on_polyline(px, py, ix.shape_x[sl], ix.shape_y[sl], ix.shape_dist_m[sl])
    n = len(px)
    out_a = np.full((n, k), np.nan)
    out_d = np.full((n, k), np.inf)
    if dist.shape[1] == 0:
        return ShapeOptions(out_a, out_d)
    inf_col = np.full((n, 1), np.inf)
    left = np.concatenate([inf_col, dist[:, :-1]], axis=1)
    right = np.concatenate([dist[:, 1:], inf_col], axis=1)
    minima = (dist <= left) & (dist < right) & (dist <= max_dist_m)
    for i in range(n):
        cols = np.flatnonzero(minima[i])
        if len(cols) == 0:
            j = int(np.argmin(dist[i]))
            if dist[i, j] <= max_dist_m:
                cols = np.array([j])
            else:
                continue
        if len(cols) > k:
            cols = cols[np.argsort(dist[i, cols])[:k]]
        # two minima closer than 60 m along the shape are one place (a bend), keep the nearer
        cols = cols[np.argsort(along[i, cols])]
        keep: list[int] = []
        for c in cols:
            if keep and along[i, c] - along[i, keep[-1]] < 60.0:
                if dist[i, c] < dist[i, keep[-1]]:
                    keep[-1] = int(c)
                continue
            keep.append(int(c))
        out_a[i, : len(keep)] = along[i, keep]
        out_d[i, : len(keep)] = dist[i, keep]
    return ShapeOptions(out_a, out_d)
