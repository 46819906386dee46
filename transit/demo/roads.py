"""A small road graph drawn in a local metric plane, and the polylines buses follow on it.

The demo network is laid out on roads rather than stop to stop: a line is a walk over named
road edges, its shape is the concatenation of the edges' curved polylines, and its stops sit on
those edges at the kerb on the side of travel.  That gives shapes that look and measure like
real ones (bends, corners, stops a few metres off the centre line, a loop that shares a street
with its own approach), which is what map matching has to cope with.

Geometry is in metres (x east, y north) around a reference point and converted to WGS84 with
the same equirectangular projection the schedule index uses.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from transit.schedule.geometry import LocalProjection

F64 = NDArray[np.float64]

#: Points are placed along an edge about this far apart.
STEP_M = 40.0
#: Stops stand this far to the right of the centre line (the kerb on the side of travel).
KERB_OFFSET_M = 6.0


@dataclass(frozen=True, slots=True)
class Edge:
    a: str
    b: str
    road: str
    #: Points from ``a`` to ``b`` inclusive, shape (n, 2).
    points: F64
    #: Scheduled off-peak speed on this edge.
    speed_kmh: float

    @property
    def length_m(self) -> float:
        return float(np.sum(np.hypot(*np.diff(self.points, axis=0).T)))


def edge_points(a: tuple[float, float], b: tuple[float, float], bend_m: float = 0.0,
                wiggle_m: float = 0.0, wavelength_m: float = 700.0) -> F64:
    """A gently curved road from ``a`` to ``b``: a quadratic curve whose middle is ``bend_m``
    left of the chord, plus a small sinusoidal wiggle that vanishes at both ends."""
    ax, ay = a
    bx, by = b
    length = math.hypot(bx - ax, by - ay)
    n = max(2, math.ceil(length / STEP_M) + 1)
    t = np.linspace(0.0, 1.0, n)
    ux, uy = (bx - ax) / length, (by - ay) / length
    nx, ny = -uy, ux  # left normal
    offset = 4.0 * bend_m * t * (1.0 - t)
    if wiggle_m:
        offset = offset + wiggle_m * np.sin(math.pi * t) * np.sin(2 * math.pi * t * length / wavelength_m)
    x = ax + (bx - ax) * t + nx * offset
    y = ay + (by - ay) * t + ny * offset
    return np.column_stack([x, y])


@dataclass
class RoadGraph:
    nodes: dict[str, tuple[float, float]] = field(default_factory=dict)
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)

    def node(self, name: str, x: float, y: float) -> None:
        if name in self.nodes:
            raise ValueError(f"node {name} defined twice")
        self.nodes[name] = (float(x), float(y))

    def road(self, road: str, names: list[str], speed_kmh: float = 24.0, bend_m: float | list[float] = 0.0,
             wiggle_m: float = 0.0) -> None:
        """Edges between consecutive ``names`` along one road."""
        bends = bend_m if isinstance(bend_m, list) else [bend_m] * (len(names) - 1)
        for (a, b), bend in zip(itertools.pairwise(names), bends, strict=True):
            if (a, b) in self.edges or (b, a) in self.edges:
                raise ValueError(f"edge {a}-{b} defined twice")
            pts = edge_points(self.nodes[a], self.nodes[b], bend, wiggle_m)
            self.edges[(a, b)] = Edge(a, b, road, pts, speed_kmh)

    def find_edge(self, a: str, b: str) -> tuple[Edge, bool]:
        """The edge between two nodes and whether it is walked forward (``a`` to ``b``)."""
        if (a, b) in self.edges:
            return self.edges[(a, b)], True
        if (b, a) in self.edges:
            return self.edges[(b, a)], False
        raise KeyError(f"no road between {a} and {b}")


@dataclass(frozen=True)
class Walk:
    """A line's path over the graph: its polyline and where each node and edge falls on it."""

    nodes: tuple[str, ...]
    points: F64  # (n, 2)
    cum_m: F64  # distance along the walk at each point
    node_dist_m: tuple[float, ...]  # distance along the walk at each node of ``nodes``
    cum_time_s: F64  # off-peak running time from the start at each point

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])

    def time_at(self, dist_m: float | F64) -> F64:
        return np.asarray(np.interp(dist_m, self.cum_m, self.cum_time_s), dtype=np.float64)


def walk(graph: RoadGraph, nodes: list[str]) -> Walk:
    pieces: list[F64] = []
    speeds: list[F64] = []
    for a, b in itertools.pairwise(nodes):
        edge, forward = graph.find_edge(a, b)
        pts = edge.points if forward else edge.points[::-1]
        if pieces:
            pts = pts[1:]
        pieces.append(pts)
        speeds.append(np.full(len(pts), edge.speed_kmh / 3.6))
    points = np.concatenate(pieces)
    speed = np.concatenate(speeds)
    step = np.hypot(*np.diff(points, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(step)])
    # the speed of a step is that of the edge its end point belongs to
    cum_time = np.concatenate([[0.0], np.cumsum(step / speed[1:])])
    node_dist = [0.0]
    for a, b in itertools.pairwise(nodes):
        edge, _ = graph.find_edge(a, b)
        node_dist.append(node_dist[-1] + edge.length_m)
    return Walk(tuple(nodes), points, cum, tuple(node_dist), cum_time)


def point_along(points: F64, dist_m: float) -> tuple[float, float, float, float]:
    """Position and unit direction at ``dist_m`` along a polyline."""
    step = np.hypot(*np.diff(points, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(step)])
    i = int(np.clip(np.searchsorted(cum, dist_m, side="right") - 1, 0, len(step) - 1))
    f = (dist_m - cum[i]) / step[i] if step[i] > 0 else 0.0
    x = points[i, 0] + f * (points[i + 1, 0] - points[i, 0])
    y = points[i, 1] + f * (points[i + 1, 1] - points[i, 1])
    ux = (points[i + 1, 0] - points[i, 0]) / step[i]
    uy = (points[i + 1, 1] - points[i, 1]) / step[i]
    return float(x), float(y), float(ux), float(uy)


def kerb_position(edge: Edge, fraction: float, forward: bool) -> tuple[float, float]:
    """Where a stop at ``fraction`` of ``edge`` stands for traffic going forward (a to b) or back."""
    x, y, ux, uy = point_along(edge.points, fraction * edge.length_m)
    if not forward:
        ux, uy = -ux, -uy
    return x + uy * KERB_OFFSET_M, y - ux * KERB_OFFSET_M  # right of the direction of travel


def to_latlon(projection: LocalProjection, x: F64 | float, y: F64 | float) -> tuple[F64, F64]:
    return projection.to_latlon(x, y)
