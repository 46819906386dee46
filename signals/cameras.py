"""Electronic-police camera reports: heartbeats or daily capture counts, in JSON or CSV.

JSON: a list, ``{"reports": [...]}`` or one object; CSV: a header naming the same fields.

* heartbeat:      ``{"camera_id": "EP-001", "time": "2026-05-01T08:00:00+08:00"}``
* daily count:    ``{"camera_id": "EP-001", "date": "2026-05-01", "captures": 1834}``

Heartbeats are rolled up per camera and local day before they are stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from signals.status import MessageError, parse_instant
from transit.core.rejection import Rejection, RejectionKind


@dataclass(frozen=True, slots=True)
class CameraHeartbeat:
    camera_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class CameraCount:
    camera_id: str
    day: dt.date
    captures: int


CameraReport = CameraHeartbeat | CameraCount


@dataclass(frozen=True, slots=True)
class CameraDayUpdate:
    """What one batch adds to a camera's day."""

    camera_id: str
    day: dt.date
    heartbeats: int
    first_ts: float | None
    last_ts: float | None
    captures: int | None


def _decode(item: Any, zone: zoneinfo.ZoneInfo, now: float, max_future_s: float) -> CameraReport:
    if not isinstance(item, dict):
        raise MessageError(RejectionKind.MALFORMED, f"a report must be an object, got {type(item).__name__}")
    cam = item.get("camera_id", item.get("CameraID", item.get("device_id")))
    if not isinstance(cam, str | int) or isinstance(cam, bool) or not str(cam).strip():
        raise MessageError(RejectionKind.MISSING_FIELD, "camera_id is missing")
    camera_id = str(cam).strip()
    captures = item.get("captures", item.get("capture_count"))
    if captures not in (None, ""):
        day_raw = item.get("date", item.get("day"))
        if day_raw in (None, ""):
            raise MessageError(RejectionKind.MISSING_FIELD, "a capture count needs its date (YYYY-MM-DD)")
        try:
            day = dt.date.fromisoformat(str(day_raw).strip())
        except ValueError:
            raise MessageError(RejectionKind.BAD_VALUE, f"date {day_raw!r} is not YYYY-MM-DD") from None
        if isinstance(captures, bool) or not (isinstance(captures, int) or str(captures).strip().isdigit()):
            raise MessageError(RejectionKind.BAD_VALUE, f"captures must be a whole number >= 0, got {captures!r}")
        if day > dt.datetime.fromtimestamp(now, zone).date():
            raise MessageError(RejectionKind.FUTURE_TIMESTAMP, f"date {day} is in the future")
        return CameraCount(camera_id, day, int(captures))
    when = item.get("time", item.get("ts", item.get("timestamp")))
    ts = parse_instant(when if when != "" else None, zone, "time")
    if ts > now + max_future_s:
        raise MessageError(RejectionKind.FUTURE_TIMESTAMP, f"time {when!r} is in the future")
    return CameraHeartbeat(camera_id, ts)


def _items_json(body: Any) -> list[tuple[int, Any]]:
    if isinstance(body, list):
        items = body
    elif isinstance(body, dict) and isinstance(body.get("reports"), list):
        items = body["reports"]
    else:
        items = [body]
    return list(enumerate(items))


def decode_camera_json(body: Any, *, tz: str, now: float,
                       max_future_s: float = 120.0) -> tuple[list[CameraReport], list[Rejection]]:
    return _decode_all(_items_json(body), tz, now, max_future_s, "report")


def decode_camera_csv(text: str, *, tz: str, now: float,
                      max_future_s: float = 120.0) -> tuple[list[CameraReport], list[Rejection]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "camera_id" not in header or not ({"time", "date"} & set(header)):
        raise MessageError(RejectionKind.MISSING_FIELD,
                   "line 1: the header needs camera_id and time (heartbeats) or date,captures (daily counts)")
    reader.fieldnames = header
    items: list[tuple[int, Any]] = []
    for row in reader:
        if any((v or "").strip() for v in row.values() if isinstance(v, str)):
            items.append((reader.line_num, {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}))
    return _decode_all(items, tz, now, max_future_s, "line")


def _decode_all(items: Iterable[tuple[int, Any]], tz: str, now: float, max_future_s: float,
                label: str) -> tuple[list[CameraReport], list[Rejection]]:
    zone = zoneinfo.ZoneInfo(tz)
    good: list[CameraReport] = []
    bad: list[Rejection] = []
    for index, item in items:
        try:
            good.append(_decode(item, zone, now, max_future_s))
        except MessageError as exc:
            bad.append(Rejection(index, exc.kind, f"{label} {index}: {exc.detail}"))
    return good, bad


def roll_up(reports: Iterable[CameraReport], tz: str) -> list[CameraDayUpdate]:
    """Heartbeats counted per camera and local day; the last count given for a day wins."""
    zone = zoneinfo.ZoneInfo(tz)
    beats: dict[tuple[str, dt.date], list[float]] = {}
    counts: dict[tuple[str, dt.date], int] = {}
    for rep in reports:
        if isinstance(rep, CameraHeartbeat):
            day = dt.datetime.fromtimestamp(rep.ts, zone).date()
            beats.setdefault((rep.camera_id, day), []).append(rep.ts)
        else:
            counts[(rep.camera_id, rep.day)] = rep.captures
    out = []
    for key in sorted(set(beats) | set(counts)):
        ts = beats.get(key, [])
        out.append(CameraDayUpdate(key[0], key[1], len(ts), min(ts) if ts else None, max(ts) if ts else None,
                                   counts.get(key)))
    return out
