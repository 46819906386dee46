"""Reading recorded AVL files (CSV) into fixes, for ``transit replay`` and ``transit evaluate``.

Two layouts are recognised from their header, and any other can be described with a column
mapping (``vehicle_id=bus,time=gps_time,lat=y,lon=x``):

* WMATA / TheTransitClock: ``vehicleId,time,assignmentId,assignmentType,heading,latitude,
  longitude``.  Times are local, without offset, in the agency's zone.  The assignment becomes
  the fix's block, route or trip according to ``assignmentType`` (BLOCK_ID, ROUTE_ID, TRIP_ID).
  A negative heading means "unknown".
* Capital Metro (CapMetrics): ``vehicle_id,timestamp,speed,route_id,trip_id,latitude,longitude,
  trip_headsign``; ISO 8601 times with offset, speed in m/s.

Pure (csv, gzip, zoneinfo): no database, no network.  A row that cannot become a fix is a
rejection indexed by its 1-based line number; the other rows are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from feeds.gps._fixfactory import new_fix
from transit.core.fix import Fix
from transit.core.rejection import Rejection, RejectionKind

#: The fields a column mapping may name.  ``speed_kmh`` is converted to m/s; ``assignment_id``
#: with ``assignment_type`` is the TheTransitClock way of giving a block, route or trip.
FIELDS = (
    "vehicle_id", "time", "lat", "lon", "speed_mps", "speed_kmh", "bearing_deg", "trip_id", "route_id",
    "block_id", "start_date", "start_time", "label", "odometer_m", "assignment_id", "assignment_type",
)
REQUIRED = ("vehicle_id", "time", "lat", "lon")
_ASSIGNMENT_FIELD = {"BLOCK_ID": 8, "ROUTE_ID": 7, "TRIP_ID": 6}  # positions in the Fix signature


class AvlFormatError(ValueError):
    """The file cannot be read as AVL at all (unknown columns, missing time zone, ...)."""


@dataclass(frozen=True, slots=True)
class AvlFormat:
    name: str
    #: our field → the file's column
    columns: Mapping[str, str]


WMATA = AvlFormat("wmata", {
    "vehicle_id": "vehicleId", "time": "time", "assignment_id": "assignmentId",
    "assignment_type": "assignmentType", "bearing_deg": "heading", "lat": "latitude", "lon": "longitude",
})
CAPMETRO = AvlFormat("capmetro", {
    "vehicle_id": "vehicle_id", "time": "timestamp", "speed_mps": "speed", "route_id": "route_id",
    "trip_id": "trip_id", "lat": "latitude", "lon": "longitude",
})
FORMATS = (WMATA, CAPMETRO)


@dataclass(frozen=True)
class AvlFile:
    path: Path
    format: str
    columns: Mapping[str, str]
    #: Data rows read (header excluded).
    rows: int
    #: Sorted by time (stable: rows of equal time keep file order).
    fixes: list[Fix]
    rejections: list[Rejection] = field(default_factory=list)


def parse_column_mapping(text: str) -> dict[str, str]:
    """``"vehicle_id=bus,time=when"`` → {"vehicle_id": "bus", "time": "when"}."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, column = part.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not column:
            raise AvlFormatError(f"column mapping {part.strip()!r}: expected FIELD=COLUMN")
        if name not in FIELDS:
            raise AvlFormatError(f"column mapping: unknown field {name!r}; fields are {', '.join(FIELDS)}")
        mapping[name] = column
    return mapping


def detect_format(header: Sequence[str]) -> AvlFormat | None:
    present = set(header)
    for fmt in FORMATS:
        if set(fmt.columns.values()) <= present:
            return fmt
    return None


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


class _RowError(Exception):
    def __init__(self, kind: RejectionKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _parse_time(text: str, tz: zoneinfo.ZoneInfo | None, path: Path) -> float:
    text = text.strip()
    if not text:
        raise _RowError(RejectionKind.MISSING_FIELD, "time is empty")
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds / 1000.0 if seconds > 1e11 else seconds
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(RejectionKind.BAD_VALUE, f"time {text!r} is not ISO 8601 or POSIX seconds") from None
    if when.tzinfo is None:
        if tz is None:
            raise AvlFormatError(
                f"{path.name}: times such as {text!r} have no UTC offset; give the time zone they are "
                "in (the GTFS agency zone, e.g. America/New_York for WMATA)")
        when = when.replace(tzinfo=tz)
    return when.timestamp()


def _number(name: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise _RowError(RejectionKind.BAD_VALUE, f"{name} {text!r} is not a number") from None


def load_avl(
    path: str | Path,
    *,
    timezone: str | None = None,
    columns: Mapping[str, str] | None = None,
    source: str = "replay",
    received_ts: float = 0.0,
) -> AvlFile:
    """Read ``path`` (CSV, optionally .gz).  ``columns`` adds to or overrides the detected
    mapping (or gives the whole mapping for other layouts); ``timezone`` is the zone of times
    written without an offset.  Raises :class:`AvlFormatError` for an unreadable file."""
    path = Path(path)
    tz = zoneinfo.ZoneInfo(timezone) if timezone else None
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise AvlFormatError(f"{path.name} is empty") from None
        detected = detect_format(header)
        mapping = dict(detected.columns) if detected else {}
        mapping.update(columns or {})
        missing = [f for f in REQUIRED if f not in mapping]
        if missing:
            raise AvlFormatError(
                f"{path.name}: columns {', '.join(header)} are not a known AVL layout (WMATA or Capital "
                f"Metro); map at least {', '.join(missing)} with a column mapping such as "
                "vehicle_id=bus,time=when,lat=latitude,lon=longitude")
        absent = [c for c in mapping.values() if c not in header]
        if absent:
            raise AvlFormatError(f"{path.name}: no column named {', '.join(map(repr, absent))} "
                                 f"(the header is {', '.join(header)})")
        where = {name: header.index(col) for name, col in mapping.items()}
        fmt_name = detected.name if detected and not columns else ("custom" if not detected else
                                                                   f"{detected.name}+mapping")
        fixes: list[Fix] = []
        rejections: list[Rejection] = []
        rows = 0
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows += 1
            try:
                fixes.append(_row_fix(row, where, tz, path, source, received_ts))
            except _RowError as exc:
                rejections.append(Rejection(reader.line_num, exc.kind, f"line {reader.line_num}: {exc.detail}"))
    fixes.sort(key=_by_ts)
    return AvlFile(path, fmt_name, mapping, rows, fixes, rejections)


def read_avl(path: str | Path, **options: object) -> Iterator[Fix]:
    """The fixes of an AVL file in time order (rows that are not fixes are skipped; use
    :func:`load_avl` to see them).  Options as for :func:`load_avl`."""
    return iter(load_avl(path, **options).fixes)  # type: ignore[arg-type]


def _row_fix(
    row: list[str], where: Mapping[str, int], tz: zoneinfo.ZoneInfo | None, path: Path, source: str,
    received_ts: float,
) -> Fix:
    if len(row) <= max(where.values()):
        raise _RowError(RejectionKind.MALFORMED, f"{len(row)} columns, expected at least {max(where.values()) + 1}")

    def text(name: str) -> str | None:
        i = where.get(name)
        if i is None:
            return None
        value = row[i].strip()
        return value or None

    vehicle_id = text("vehicle_id")
    if vehicle_id is None:
        raise _RowError(RejectionKind.MISSING_FIELD, "vehicle id is empty")
    ts = _parse_time(row[where["time"]], tz, path)
    lat = _number("latitude", row[where["lat"]])
    lon = _number("longitude", row[where["lon"]])
    if lat is None or lon is None:
        raise _RowError(RejectionKind.MISSING_FIELD, "latitude or longitude is empty")
    speed = _number("speed", row[where["speed_mps"]]) if "speed_mps" in where else None
    if "speed_kmh" in where:
        kmh = _number("speed", row[where["speed_kmh"]])
        speed = None if kmh is None else kmh / 3.6
    bearing = _number("heading", row[where["bearing_deg"]]) if "bearing_deg" in where else None
    if bearing is not None and not bearing >= 0:
        bearing = None  # TheTransitClock writes -1 (or NaN) for "no heading"
    odometer = _number("odometer", row[where["odometer_m"]]) if "odometer_m" in where else None
    args: list[object] = [
        vehicle_id, ts, lat, lon, speed, bearing, text("trip_id"), text("route_id"), text("block_id"),
        text("start_date"), text("start_time"), text("label"), odometer, source, True, received_ts,
    ]
    assignment = text("assignment_id")
    if assignment is not None:
        slot = _ASSIGNMENT_FIELD.get((text("assignment_type") or "").upper())
        if slot is not None and args[slot] is None:
            args[slot] = assignment
    return new_fix(*args)


def _by_ts(fix: Fix) -> float:
    return fix.ts
