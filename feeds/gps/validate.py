"""Checks every fix passes before it is stored, whatever source it came from.

Pure: no I/O, ``now`` is an argument.  A failed check becomes a :class:`Rejection` whose detail
names the field and the value, so the sender can find the bad record; the rest of the batch goes
on.  Strings are checked here too (NUL characters, lone surrogates, absurd lengths) because
PostgreSQL would otherwise refuse the whole COPY they travel in.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Container, Sequence
from dataclasses import dataclass

from transit.core.fix import Fix
from transit.core.rejection import Rejection, RejectionKind

#: Fields holding free text, checked for what PostgreSQL cannot store.
_TEXT_FIELDS = ("trip_id", "route_id", "block_id", "start_date", "start_time", "label")


@dataclass(frozen=True, slots=True)
class FixLimits:
    """How far a fix may stray from the service clock, and sanity bounds on its values."""

    max_future_s: float = 120.0
    max_past_s: float = 7 * 86400.0
    #: 100 m/s is 360 km/h: anything faster is a terminal glitch (JT/T 808 sends 0xFFFF).
    max_speed_mps: float = 100.0
    max_text_chars: int = 128
    #: Within this many degrees of (0, 0) a fix is a receiver without a position, not a place.
    null_island_deg: float = 1e-6


def format_instant(ts: float) -> str:
    """ISO 8601 in UTC for rejection details (the reader may be anywhere)."""
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return repr(ts)


def _text_problem(name: str, value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return f"{name}: expected a string, got {value!r}"
    if len(value) > limit:
        return f"{name}: {len(value)} characters, at most {limit} allowed"
    if "\x00" in value:
        return f"{name}: contains a NUL character"
    if not value.isascii() and not _utf8_ok(value):
        return f"{name}: is not valid Unicode text (lone surrogate)"
    return None


def _utf8_ok(text: str) -> bool:
    """False for text Python holds but UTF-8 cannot carry (lone surrogates, e.g. from JSON "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number_problem(name: str, value: object, low: float, high: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name}: expected a number, got {value!r}"
    if not (low <= value <= high):  # also false for NaN
        return f"{name}={value!r} is outside {low:g}..{high:g}"
    return None


def check_fix(fix: Fix, now: float, limits: FixLimits) -> tuple[RejectionKind, str] | None:
    """The first problem with ``fix`` as (kind, detail), or None when it may be stored."""
    vid = fix.vehicle_id
    if not vid:
        return RejectionKind.MISSING_FIELD, "vehicle_id is missing or empty"
    problem = _text_problem("vehicle_id", vid, limits.max_text_chars)
    if problem:
        return RejectionKind.BAD_VALUE, problem
    ts = fix.ts
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return RejectionKind.BAD_VALUE, f"ts: expected POSIX seconds, got {ts!r}"
    lat, lon = fix.lat, fix.lon
    problem = _number_problem("lat", lat, -90.0, 90.0) or _number_problem("lon", lon, -180.0, 180.0)
    if problem:
        return RejectionKind.INVALID_COORDINATES, f"{problem} (vehicle {vid})"
    if abs(lat) < limits.null_island_deg and abs(lon) < limits.null_island_deg:
        return RejectionKind.NULL_ISLAND, f"lat/lon ({lat}, {lon}) is the (0, 0) no-position marker (vehicle {vid})"
    if ts > now + limits.max_future_s:
        return RejectionKind.FUTURE_TIMESTAMP, (
            f"ts {format_instant(ts)} is {ts - now:.0f} s ahead of the service clock "
            f"{format_instant(now)} (at most {limits.max_future_s:g} s allowed; vehicle {vid})")
    if ts < now - limits.max_past_s:
        return RejectionKind.STALE_TIMESTAMP, (
            f"ts {format_instant(ts)} is {now - ts:.0f} s older than the service clock "
            f"{format_instant(now)} (at most {limits.max_past_s:g} s allowed; vehicle {vid})")
    for name, value, high in (("speed_mps", fix.speed_mps, limits.max_speed_mps),
                              ("bearing_deg", fix.bearing_deg, 360.0), ("odometer_m", fix.odometer_m, 1e12)):
        if value is not None:
            problem = _number_problem(name, value, 0.0, high)
            if problem:
                return RejectionKind.BAD_VALUE, f"{problem} (vehicle {vid})"
    for name in _TEXT_FIELDS:
        value = getattr(fix, name)
        if value is not None:
            problem = _text_problem(name, value, limits.max_text_chars)
            if problem:
                return RejectionKind.BAD_VALUE, f"{problem} (vehicle {vid})"
    return None


def validate_fixes(
    fixes: Sequence[Fix],
    now: float,
    limits: FixLimits,
    known_vehicles: Container[str] | None = None,
) -> tuple[list[Fix], list[int], list[Rejection]]:
    """Split a batch into the fixes that may be stored (with their positions in ``fixes``) and
    rejections indexed by position.

    ``known_vehicles`` is for sources that require registration: a fix from a vehicle not in it
    is rejected as UNKNOWN_VEHICLE.
    """
    good: list[Fix] = []
    positions: list[int] = []
    rejections: list[Rejection] = []
    earliest = now - limits.max_past_s
    latest = now + limits.max_future_s
    max_chars = limits.max_text_chars
    max_speed = limits.max_speed_mps
    eps = limits.null_island_deg
    for i, fix in enumerate(fixes):
        # Fast path: the common, clean fix passes these in a few hundred nanoseconds; anything
        # unusual (or bad) goes through check_fix, which names the problem.
        vid = fix.vehicle_id
        lat = fix.lat
        lon = fix.lon
        ts = fix.ts
        speed = fix.speed_mps
        bearing = fix.bearing_deg
        odometer = fix.odometer_m
        text = f"{vid}{fix.trip_id}{fix.route_id}{fix.block_id}{fix.start_date}{fix.start_time}{fix.label}"
        if not (
            type(vid) is str and 0 < len(vid) <= max_chars
            and type(lat) is float and -90.0 <= lat <= 90.0
            and type(lon) is float and -180.0 <= lon <= 180.0
            and (lat > eps or lat < -eps or lon > eps or lon < -eps)
            and type(ts) is float and earliest <= ts <= latest
            and (speed is None or (type(speed) is float and 0.0 <= speed <= max_speed))
            and (bearing is None or (type(bearing) is float and 0.0 <= bearing <= 360.0))
            and (odometer is None or (type(odometer) is float and 0.0 <= odometer <= 1e12))
            and len(text) <= max_chars and "\x00" not in text and (text.isascii() or _utf8_ok(text))
        ):
            found = check_fix(fix, now, limits)
            if found is not None:
                rejections.append(Rejection(i, found[0], found[1]))
                continue
        if known_vehicles is not None and vid not in known_vehicles:
            rejections.append(Rejection(i, RejectionKind.UNKNOWN_VEHICLE, f"vehicle_id {vid!r} is not registered"))
            continue
        good.append(fix)
        positions.append(i)
    return good, positions, rejections
