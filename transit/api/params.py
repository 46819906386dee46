"""Query parameters of the rider API: parsed strictly, and a 400 naming the parameter otherwise."""

from __future__ import annotations

import datetime as dt
import math
import re

from aiohttp import web

from transit.app.errors import bad_parameter

_TIME = re.compile(r"^\d{1,3}:[0-5]\d:[0-5]\d$")


def int_param(query: web.Request | dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise bad_parameter(name, f"must be between {low} and {high}, got {value}")
    return value


def float_param(query: web.Request | dict[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_parameter(name, f"expected a number, got {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise bad_parameter(name, f"must be between {low:g} and {high:g}, got {raw}")
    return value


def latlon_param(query: web.Request | dict[str, str], name: str) -> tuple[float, float] | None:
    raw = _get(query, name)
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    try:
        lat, lon = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        lat = lon = math.nan
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise bad_parameter(name, f"expected 'lat,lon' in decimal degrees, got {raw!r}")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise bad_parameter(name, f"latitude must be within ±90 and longitude within ±180, got {raw!r}")
    return lat, lon


def list_param(query: web.Request | dict[str, str], name: str) -> tuple[str, ...] | None:
    """Repeated (``?route_id=1&route_id=2``) or comma-separated values; None when absent."""
    values: list[str] = []
    if isinstance(query, web.Request):
        raw_values = query.query.getall(name, [])
    else:
        raw_values = [query[name]] if name in query else []
    for raw in raw_values:
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    if raw_values and not values:
        raise bad_parameter(name, "must not be empty")
    return tuple(sorted(set(values))) if values else None


def date_param(query: web.Request | dict[str, str], name: str) -> str | None:
    """A service date as YYYYMMDD or YYYY-MM-DD; returned as YYYYMMDD."""
    raw = _get(query, name)
    if raw is None or raw == "":
        return None
    text = raw.replace("-", "")
    try:
        dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise bad_parameter(name, f"expected a date as YYYY-MM-DD or YYYYMMDD, got {raw!r}") from None
    if len(text) != 8:
        raise bad_parameter(name, f"expected a date as YYYY-MM-DD or YYYYMMDD, got {raw!r}")
    return text


def time_param(query: web.Request | dict[str, str], name: str) -> str | None:
    raw = _get(query, name)
    if raw is None or raw == "":
        return None
    if not _TIME.match(raw):
        raise bad_parameter(name, f"expected a GTFS time HH:MM:SS, got {raw!r}")
    return raw if len(raw.split(":")[0]) >= 2 else "0" + raw


def bool_param(query: web.Request | dict[str, str], name: str, default: bool) -> bool:
    raw = _get(query, name)
    if raw is None or raw == "":
        return default
    text = raw.lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise bad_parameter(name, f"expected true or false, got {raw!r}")


def _get(query: web.Request | dict[str, str], name: str) -> str | None:
    if isinstance(query, web.Request):
        return query.query.get(name)
    return query.get(name)
