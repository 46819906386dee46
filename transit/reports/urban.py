"""Which stops are urban (城区): inside the configured boundary, or flagged by an operator.

The boundary is GeoJSON (Polygon, MultiPolygon, or a Feature / FeatureCollection of them) or a
plain file of ``lon,lat`` lines, one ring.  Flags win over the boundary both ways, so an operator
can add a stop just outside it or take out one that the polygon catches by mistake.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transit.reports.indicators_transit import StopArea


class BoundaryError(ValueError):
    """The boundary text is not a usable polygon; the message says where and why."""


@dataclass(frozen=True, eq=False)
class Boundary:
    #: Each polygon is a tuple of rings (outer first, then holes), each an (n, 2) array of lon, lat.
    polygons: tuple[tuple[np.ndarray, ...], ...]

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Even-odd rule within each polygon; inside any polygon is inside."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        inside = np.zeros(lon.shape, dtype=bool)
        for polygon in self.polygons:
            odd = np.zeros(lon.shape, dtype=bool)
            for ring in polygon:
                x1, y1 = ring[:, 0], ring[:, 1]
                x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
                for a, b, c, d in zip(x1, y1, x2, y2, strict=True):
                    if b == d:
                        continue
                    crosses = (b > lat) != (d > lat)
                    x_at = a + (lat - b) * (c - a) / (d - b)
                    odd ^= crosses & (lon < x_at)
            inside |= odd
        return inside

    def as_geojson(self) -> dict[str, Any]:
        return {"type": "MultiPolygon",
                "coordinates": [[ring.tolist() for ring in polygon] for polygon in self.polygons]}


def _ring(coords: Any, where: str) -> np.ndarray:
    try:
        ring = np.asarray(coords, dtype=float)
    except (TypeError, ValueError):
        raise BoundaryError(f"{where}: coordinates must be [lon, lat] pairs") from None
    if ring.ndim != 2 or ring.shape[1] < 2:
        raise BoundaryError(f"{where}: coordinates must be [lon, lat] pairs")
    ring = ring[:, :2]
    if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
        ring = ring[:-1]
    if len(ring) < 3:
        raise BoundaryError(f"{where}: a ring needs at least 3 distinct points")
    if np.abs(ring[:, 0]).max() > 180 or np.abs(ring[:, 1]).max() > 90:
        raise BoundaryError(f"{where}: a coordinate is out of range (GeoJSON order is [lon, lat])")
    return ring


def _polygons(geometry: Mapping[str, Any], where: str) -> list[tuple[np.ndarray, ...]]:
    kind = geometry.get("type")
    if kind == "Feature":
        return _polygons(geometry.get("geometry") or {}, f"{where}.geometry")
    if kind == "FeatureCollection":
        out: list[tuple[np.ndarray, ...]] = []
        for i, feature in enumerate(geometry.get("features") or []):
            out += _polygons(feature, f"{where}.features[{i}]")
        return out
    if kind == "GeometryCollection":
        out = []
        for i, g in enumerate(geometry.get("geometries") or []):
            out += _polygons(g, f"{where}.geometries[{i}]")
        return out
    if kind == "Polygon":
        rings = geometry.get("coordinates") or []
        return [tuple(_ring(r, f"{where}.coordinates[{i}]") for i, r in enumerate(rings))] if rings else []
    if kind == "MultiPolygon":
        return [tuple(_ring(r, f"{where}.coordinates[{p}][{i}]") for i, r in enumerate(poly))
                for p, poly in enumerate(geometry.get("coordinates") or []) if poly]
    raise BoundaryError(f"{where}: expected a Polygon or MultiPolygon, got {kind!r}")


def parse_boundary(text: str) -> Boundary:
    """GeoJSON, or ``lon,lat`` lines (``#`` comments and blank lines allowed)."""
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise BoundaryError("the boundary is empty")
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise BoundaryError(f"not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise BoundaryError("expected a GeoJSON object")
        polygons = _polygons(doc, "boundary")
    else:
        points: list[tuple[float, float]] = []
        for n, line in enumerate(stripped.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.replace(";", ",").replace(" ", ",").split(",")
            parts = [p for p in parts if p]
            try:
                lon, lat = float(parts[0]), float(parts[1])
            except (IndexError, ValueError):
                raise BoundaryError(f"line {n}: expected 'lon,lat', got {line!r}") from None
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise BoundaryError(f"line {n}: {line!r} is out of range (the order is lon,lat)")
            points.append((lon, lat))
        polygons = [(_ring(points, "boundary"),)]
    if not polygons:
        raise BoundaryError("the boundary holds no polygon")
    return Boundary(tuple(polygons))


def classify_stops(stop_ids: Sequence[str], names: Sequence[str], lat: np.ndarray, lon: np.ndarray,
                   boundary: Boundary | None, flags: Mapping[str, bool]) -> list[StopArea]:
    """Each stop with whether it is urban and by which rule.  With neither a boundary nor any
    stop flagged urban, every stop is urban (rule "all") and the report says so."""
    if boundary is not None:
        inside = boundary.contains(np.asarray(lon), np.asarray(lat))
        default_rule = ("boundary", "outside")
    elif any(flags.values()):
        inside = np.zeros(len(stop_ids), dtype=bool)
        default_rule = ("boundary", "outside")
    else:
        inside = np.ones(len(stop_ids), dtype=bool)
        default_rule = ("all", "outside")
    out: list[StopArea] = []
    for i, stop_id in enumerate(stop_ids):
        flag = flags.get(stop_id)
        if flag is True:
            urban, why = True, "flag"
        elif flag is False:
            urban, why = False, "flag_out"
        else:
            urban = bool(inside[i])
            why = default_rule[0] if urban else default_rule[1]
        out.append(StopArea(stop_id, names[i], urban, why, float(lat[i]), float(lon[i])))
    return out
