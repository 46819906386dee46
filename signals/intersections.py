"""Intersections as the bureau registers them: checked one by one, from the import CSV or JSON.

CSV header: ``intersection_id,name,lat,lon,town,is_key,controller_ids,camera_ids,in_service_from``
with several ids separated by ``;``.  A bad row is reported with its line number and the good rows
are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transit.core.rejection import Rejection, RejectionKind

CSV_COLUMNS = ("intersection_id", "name", "lat", "lon", "town", "is_key", "controller_ids", "camera_ids",
               "in_service_from")
REQUIRED = ("intersection_id", "name", "lat", "lon")
_TRUE = {"1", "true", "yes", "y", "t", "是", "重点", "key"}
_FALSE = {"0", "false", "no", "n", "f", "否", "", "非重点"}
MAX_ID = 64


@dataclass(frozen=True, slots=True)
class Intersection:
    intersection_id: str
    name: str
    lat: float
    lon: float
    town: str = ""
    is_key: bool = False
    controller_ids: tuple[str, ...] = ()
    camera_ids: tuple[str, ...] = ()
    in_service_from: dt.date | None = None

    def as_json(self) -> dict[str, Any]:
        return {"intersection_id": self.intersection_id, "name": self.name, "lat": self.lat, "lon": self.lon,
                "town": self.town, "is_key": self.is_key, "controller_ids": list(self.controller_ids),
                "camera_ids": list(self.camera_ids),
                "in_service_from": self.in_service_from.isoformat() if self.in_service_from else None}


class InvalidIntersection(ValueError):
    def __init__(self, kind: RejectionKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _ids(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidIntersection(RejectionKind.BAD_VALUE, f"{name} must be ids separated by ';' or a list")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise InvalidIntersection(RejectionKind.BAD_VALUE, f"{name}: {item!r} is not an id")
        text = str(item).strip()
        if not text:
            continue
        if len(text) > MAX_ID:
            raise InvalidIntersection(RejectionKind.BAD_VALUE, f"{name}: id {text[:20]!r}... is too long")
        if text in out:
            raise InvalidIntersection(RejectionKind.DUPLICATE, f"{name} lists {text!r} twice")
        out.append(text)
    return tuple(out)


def _number(value: Any, name: str, low: float, high: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidIntersection(RejectionKind.MISSING_FIELD, f"{name} is missing")
    if isinstance(value, bool):
        raise InvalidIntersection(RejectionKind.BAD_VALUE, f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidIntersection(RejectionKind.INVALID_COORDINATES, f"{name} {value!r} is not a number") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise InvalidIntersection(RejectionKind.INVALID_COORDINATES, f"{name} {value!r} is outside {low:g}..{high:g}")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidIntersection(RejectionKind.BAD_VALUE, f"is_key must be true or false, got {value!r}")


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidIntersection(RejectionKind.BAD_VALUE,
                                  f"in_service_from {value!r} is not a date (YYYY-MM-DD)") from None


def intersection_from(data: Mapping[str, Any]) -> Intersection:
    """Check one intersection given as a mapping (a CSV row or a JSON object)."""
    if not isinstance(data, Mapping):
        raise InvalidIntersection(RejectionKind.MALFORMED, "an intersection must be a JSON object")
    raw_id = data.get("intersection_id")
    ident = str(raw_id).strip() if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""
    if not ident:
        raise InvalidIntersection(RejectionKind.MISSING_FIELD, "intersection_id is missing")
    if len(ident) > MAX_ID or any(c in ident for c in "/;?#") or not ident.isprintable():
        raise InvalidIntersection(RejectionKind.BAD_VALUE,
                                  f"intersection_id {ident!r} must be at most {MAX_ID} printable "
                                  "characters without / ; ? #")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidIntersection(RejectionKind.MISSING_FIELD, "name is missing")
    lat = _number(data.get("lat"), "lat", -90, 90)
    lon = _number(data.get("lon"), "lon", -180, 180)
    if lat == 0 and lon == 0:
        raise InvalidIntersection(RejectionKind.NULL_ISLAND, "lat/lon 0,0 is not a place in the district")
    town = data.get("town") or ""
    if not isinstance(town, str):
        raise InvalidIntersection(RejectionKind.BAD_VALUE, f"town must be text, got {town!r}")
    controllers = _ids(data.get("controller_ids"), "controller_ids")
    cameras = _ids(data.get("camera_ids"), "camera_ids")
    return Intersection(ident, name.strip(), lat, lon, town.strip(), _flag(data.get("is_key")),
                        controllers, cameras, _date(data.get("in_service_from")))


def check_unique(items: Iterable[tuple[int, Intersection]]) -> tuple[list[tuple[int, Intersection]], list[Rejection]]:
    """Within one batch: an intersection id once, and a controller or camera on one intersection."""
    seen: set[str] = set()
    owner: dict[tuple[str, str], str] = {}
    good: list[tuple[int, Intersection]] = []
    bad: list[Rejection] = []
    for line, item in items:
        problem = None
        if item.intersection_id in seen:
            problem = f"intersection_id {item.intersection_id!r} appears twice"
        for kind, ids in (("controller", item.controller_ids), ("camera", item.camera_ids)):
            for ident in ids:
                other = owner.get((kind, ident))
                if problem is None and other is not None and other != item.intersection_id:
                    problem = f"{kind} {ident!r} already belongs to intersection {other!r}"
        if problem:
            bad.append(Rejection(line, RejectionKind.DUPLICATE, f"line {line}: {problem}"))
            continue
        seen.add(item.intersection_id)
        for kind, ids in (("controller", item.controller_ids), ("camera", item.camera_ids)):
            for ident in ids:
                owner[(kind, ident)] = item.intersection_id
        good.append((line, item))
    return good, bad


def parse_intersections_csv(text: str) -> tuple[list[tuple[int, Intersection]], list[Rejection]]:
    """(line, intersection) for the good rows, rejections naming the line for the bad ones."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidIntersection(RejectionKind.MISSING_FIELD,
                                  f"line 1: the header lacks {', '.join(missing)} "
                                  f"(expected {','.join(CSV_COLUMNS)})")
    reader.fieldnames = header
    good: list[tuple[int, Intersection]] = []
    bad: list[Rejection] = []
    line = 1
    for row in reader:
        line = reader.line_num
        if None in row:
            bad.append(Rejection(line, RejectionKind.MALFORMED,
                                 f"line {line}: more fields than the header has columns"))
            continue
        if all(not (v or "").strip() for v in row.values()):
            continue
        try:
            good.append((line, intersection_from(row)))
        except InvalidIntersection as exc:
            bad.append(Rejection(line, exc.kind, f"line {line}: {exc.detail}"))
    unique, dupes = check_unique(good)
    return unique, sorted(bad + dupes, key=lambda r: r.index)
