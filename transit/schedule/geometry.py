"""Plane geometry for matching positions to shapes.

Positions are projected to a local equirectangular plane in metres around a reference point.
Across a city (tens of km) the error is well under a metre per kilometre, far below GPS noise,
and it turns every distance into cheap vectorised arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

EARTH_RADIUS_M = 6_371_008.8

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LocalProjection:
    lat0: float
    lon0: float

    @property
    def kx(self) -> float:
        return math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))

    @property
    def ky(self) -> float:
        return math.radians(1.0) * EARTH_RADIUS_M

    def to_xy(self, lat: F64 | float, lon: F64 | float) -> tuple[F64, F64]:
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * self.kx
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * self.ky
        return x, y

    def to_latlon(self, x: F64 | float, y: F64 | float) -> tuple[F64, F64]:
        lat = np.asarray(y, dtype=np.float64) / self.ky + self.lat0
        lon = np.asarray(x, dtype=np.float64) / self.kx + self.lon0
        return lat, lon


def haversine_m(lat1: F64 | float, lon1: F64 | float, lat2: F64 | float, lon2: F64 | float) -> F64:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)), dtype=np.float64)


def cumulative_length(x: F64, y: F64) -> F64:
    out = np.zeros(len(x), dtype=np.float64)
    if len(x) > 1:
        out[1:] = np.cumsum(np.hypot(np.diff(x), np.diff(y)))
    return out


def project_on_polyline(
    px: F64, py: F64, x: F64, y: F64, cum: F64
) -> tuple[F64, F64, NDArray[np.int64]]:
    """Project points onto every segment of one polyline.

    Returns ``(dist_m, along_m, seg)`` arrays of shape (n_points, n_segments): the distance from
    each point to each segment, the distance along the polyline of the foot of the perpendicular,
    and the segment index.  Callers pick among segments (nearest, or nearest after a given
    progress), which is how loops and repeated stops keep the right order.
    """
    if len(x) < 2:
        d = np.hypot(px[:, None] - x[None, :1], py[:, None] - y[None, :1])
        return d, np.zeros_like(d), np.zeros(d.shape, dtype=np.int64)
    ax, ay = x[:-1], y[:-1]
    dx, dy = np.diff(x), np.diff(y)
    seg_len2 = dx * dx + dy * dy
    seg_len2 = np.where(seg_len2 == 0, 1e-12, seg_len2)
    t = ((px[:, None] - ax[None, :]) * dx[None, :] + (py[:, None] - ay[None, :]) * dy[None, :]) / seg_len2
    t = np.clip(t, 0.0, 1.0)
    fx = ax[None, :] + t * dx[None, :]
    fy = ay[None, :] + t * dy[None, :]
    dist = np.hypot(px[:, None] - fx, py[:, None] - fy)
    along = cum[None, :-1] + t * np.sqrt(seg_len2)[None, :]
    seg = np.broadcast_to(np.arange(len(ax), dtype=np.int64)[None, :], dist.shape)
    return dist, along, seg


def monotone_stop_distances(
    sx: F64, sy: F64, x: F64, y: F64, cum: F64, candidates: int = 6
) -> tuple[F64, F64]:
    """Distance along the polyline of each stop, in stop order, never decreasing.

    Each stop keeps its few best local minima of distance to the polyline as candidates; a
    dynamic programme then picks one per stop so that positions never go backwards and the total
    stop-to-shape distance is least.  A loop that passes the same stop twice therefore places its
    first visit early and its second late.  Returns (along_m, off_m).
    """
    n = len(sx)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    dist, along, _ = project_on_polyline(sx, sy, x, y, cum)
    cand_along = np.empty((n, candidates))
    cand_cost = np.full((n, candidates), np.inf)
    for i in range(n):
        d = dist[i]
        if d.size == 1:
            cand_along[i, 0] = along[i, 0]
            cand_cost[i, 0] = d[0]
            continue
        # local minima along the polyline (plateaus count once)
        left = np.concatenate(([np.inf], d[:-1]))
        right = np.concatenate((d[1:], [np.inf]))
        minima = np.flatnonzero((d <= left) & (d < right))
        if minima.size == 0:
            minima = np.array([int(np.argmin(d))])
        keep = minima[np.argsort(d[minima])[:candidates]]
        cand_along[i, : keep.size] = along[i, keep]
        cand_cost[i, : keep.size] = d[keep]
    # DP over stops: best[i, k] = least cost ending with candidate k of stop i
    best = cand_cost[0].copy()
    back = np.zeros((n, candidates), dtype=np.int64)
    for i in range(1, n):
        ok = cand_along[i][:, None] + 1e-6 >= cand_along[i - 1][None, :]
        total = np.where(ok, best[None, :], np.inf)
        k_prev = np.argmin(total, axis=1)
        prev_cost = total[np.arange(candidates), k_prev]
        best_new = cand_cost[i] + prev_cost
        if not np.isfinite(best_new).any():
            # No monotone choice (stops out of order on the shape): keep the nearest, clamp later.
            best_new = cand_cost[i] + np.min(best)
            k_prev = np.full(candidates, int(np.argmin(best)))
        best = best_new
        back[i] = k_prev
    out = np.empty(n)
    off = np.empty(n)
    k = int(np.argmin(best))
    for i in range(n - 1, -1, -1):
        out[i] = cand_along[i, k]
        off[i] = cand_cost[i, k]
        k = int(back[i, k])
    out = np.maximum.accumulate(out)
    return out, off
