"""The dashboard map's data: stops coloured by board coverage, line shapes, the urban boundary.

Drawn by the page itself on SVG, so it needs coordinates only, no tiles.  Shapes are thinned to
a few hundred points each: enough to recognise the streets at district scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transit.reports.indicators_transit import StopCoverage
from transit.reports.line_service import route_name
from transit.reports.urban import Boundary
from transit.schedule.index import ScheduleIndex

MAX_SHAPE_POINTS = 300
SHAPES_PER_ROUTE = 2


def _thin(lon: np.ndarray, lat: np.ndarray) -> list[list[float]]:
    step = max(1, int(np.ceil(len(lon) / MAX_SHAPE_POINTS)))
    keep = np.arange(0, len(lon), step)
    if len(lon) and keep[-1] != len(lon) - 1:
        keep = np.append(keep, len(lon) - 1)
    return [[round(float(lon[i]), 5), round(float(lat[i]), 5)] for i in keep]


def route_shapes(index: ScheduleIndex) -> list[dict[str, Any]]:
    out = []
    for r, route_id in enumerate(index.route_ids):
        shapes, counts = np.unique(index.trip_shape[index.trip_route == r], return_counts=True)
        for shape in shapes[np.argsort(-counts)][:SHAPES_PER_ROUTE]:
            sl = index.shape_points(int(shape))
            color = index.route_color[r]
            out.append({"route_id": route_id, "name": route_name(index, r),
                        "color": f"#{color}" if color and len(color) == 6 else None,
                        "points": _thin(index.shape_lon[sl], index.shape_lat[sl])})
    return out


def map_json(index: ScheduleIndex | None, coverage: Sequence[StopCoverage], boundary: Boundary | None,
             boundary_origin: str) -> dict[str, Any]:
    stops = [{
        "id": c.stop.stop_id, "name": c.stop.name, "lat": round(c.stop.lat, 6), "lon": round(c.stop.lon, 6),
        "urban": c.stop.urban, "rule": c.stop.why, "state": c.state,
        "boards": [{"board_id": b.board_id, "online_share": b.online_share} for b in c.boards],
    } for c in coverage]
    lons = [c.stop.lon for c in coverage]
    lats = [c.stop.lat for c in coverage]
    return {
        "stops": stops,
        "shapes": route_shapes(index) if index is not None else [],
        "boundary": boundary.as_geojson() if boundary is not None else None,
        "boundary_origin": boundary_origin,
        "bbox": [min(lons), min(lats), max(lons), max(lats)] if stops else None,
        "counts": {state: sum(1 for s in stops if s["state"] == state)
                   for state in ("covered", "board_offline", "no_board", "not_urban")},
    }
