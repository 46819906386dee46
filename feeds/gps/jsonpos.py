"""The JSON batch schema of ``POST /api/v1/ingest/positions`` (documented in docs/ingest.md).

Pure: takes the decoded JSON document, returns fixes and per-item rejections.  A body that is not
a batch at all raises :class:`PositionsBodyError` (HTTP 400); an item that cannot become a fix is
a rejection naming the field, and the other items are kept.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from typing import Any

from feeds.gps._fixfactory import new_fix
from transit.core.fix import Fix
from transit.core.rejection import Rejection, RejectionKind

_NUMBERS = ("speed_mps", "bearing_deg", "odometer_m")
_TEXTS = ("trip_id", "route_id", "block_id", "start_date", "start_time", "label")
#: Names senders often use for our fields; named in the error when the real one is missing.
_ALIASES = {
    "vehicle_id": ("vehicle", "vehicleId", "id"),
    "ts": ("timestamp", "time"),
    "lat": ("latitude",),
    "lon": ("longitude", "lng"),
}
#: POSIX seconds above this are from the year 5138: the sender sent milliseconds.
_MAX_SECONDS = 1e11


class PositionsBodyError(ValueError):
    """The body is not a batch of positions."""


class _ItemError(Exception):
    def __init__(self, kind: RejectionKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def parse_instant(value: Any, tz: zoneinfo.ZoneInfo, name: str = "ts") -> float:
    """POSIX seconds from a number, or from ISO 8601 text (no offset: local time in ``tz``)."""
    if isinstance(value, bool):
        raise _ItemError(RejectionKind.BAD_VALUE, f"{name}: expected POSIX seconds or ISO 8601, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise _ItemError(RejectionKind.BAD_VALUE, f"{name}: {value!r} is not a time")
        if abs(seconds) > _MAX_SECONDS:
            raise _ItemError(RejectionKind.BAD_VALUE,
                             f"{name}={value!r} looks like milliseconds; send POSIX seconds")
        return seconds
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise _ItemError(RejectionKind.BAD_VALUE,
                             f"{name}: {value!r} is not ISO 8601 (e.g. 2025-05-01T08:30:00+08:00)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=tz)
        return when.timestamp()
    raise _ItemError(RejectionKind.BAD_VALUE, f"{name}: expected POSIX seconds or ISO 8601, got {value!r}")


def _required(item: dict[str, Any], name: str) -> Any:
    value = item.get(name)
    if value is None:
        hint = next((a for a in _ALIASES.get(name, ()) if a in item), None)
        extra = f" (found {hint!r}: this schema calls it {name!r})" if hint else ""
        raise _ItemError(RejectionKind.MISSING_FIELD, f"{name} is missing{extra}")
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _ItemError(RejectionKind.BAD_VALUE, f"{name}: expected a number, got {value!r}")
    return float(value)


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _ItemError(RejectionKind.BAD_VALUE, f"{name}: expected a string, got {value!r}")


def parse_item(item: Any, tz: zoneinfo.ZoneInfo, received_ts: float, source: str) -> Fix:
    if not isinstance(item, dict):
        raise _ItemError(RejectionKind.MALFORMED, f"expected an object, got {type(item).__name__}")
    vehicle_id = _text("vehicle_id", _required(item, "vehicle_id"))
    ts = parse_instant(_required(item, "ts"), tz)
    lat = _number("lat", _required(item, "lat"))
    lon = _number("lon", _required(item, "lon"))
    numbers = [None if item.get(n) is None else _number(n, item[n]) for n in _NUMBERS]
    texts = [None if item.get(n) is None else _text(n, item[n]) for n in _TEXTS]
    live = item.get("live", True)
    if not isinstance(live, bool):
        raise _ItemError(RejectionKind.BAD_VALUE, f"live: expected true or false, got {live!r}")
    return new_fix(
        vehicle_id, ts, lat, lon, numbers[0], numbers[1], texts[0], texts[1], texts[2], texts[3],
        texts[4], texts[5], numbers[2], source, live, received_ts,
    )


def parse_positions(
    document: Any, *, tz: zoneinfo.ZoneInfo, received_ts: float, source: str = "json"
) -> tuple[list[Fix], list[int], list[Rejection]]:
    """(fixes, the item index of each fix, rejections indexed by item)."""
    items = document.get("positions") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise PositionsBodyError(
            'expected a JSON array of positions, or an object {"positions": [...]}; see docs/ingest.md'
        )
    fixes: list[Fix] = []
    index: list[int] = []
    rejections: list[Rejection] = []
    for i, item in enumerate(items):
        try:
            fixes.append(parse_item(item, tz, received_ts, source))
            index.append(i)
        except _ItemError as exc:
            vehicle = item.get("vehicle_id") if isinstance(item, dict) else None
            suffix = f" (vehicle {vehicle})" if isinstance(vehicle, str | int) and vehicle != "" else ""
            rejections.append(Rejection(i, exc.kind, exc.detail + suffix))
    return fixes, index, rejections
