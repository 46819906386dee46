"""The first check of a feed: required files and columns, and the agency time zone.

Runs before anything is parsed, so a feed missing stops.txt fails in milliseconds.
"""

from __future__ import annotations

import zoneinfo

from feeds.gtfs.errors import GtfsError
from feeds.gtfs.source import GtfsSource, iter_rows
from feeds.gtfs.spec import FILES


def check_files(source: GtfsSource) -> tuple[list[GtfsError], dict[str, list[str]], str | None]:
    """Check files and columns before anything is parsed."""
    errors: list[GtfsError] = []
    headers: dict[str, list[str]] = {}
    for spec in FILES:
        if not source.has(spec.file):
            if spec.required:
                errors.append(GtfsError(spec.file, None, "required file is missing"))
            continue
        header = source.header(spec.file)
        headers[spec.file] = header
        for column in spec.required_columns:
            if column not in header:
                errors.append(GtfsError(spec.file, 1, f"required column {column} is missing"))
        seen: set[str] = set()
        for column in header:
            if column in seen and column:
                errors.append(GtfsError(spec.file, 1, f"column {column} appears twice"))
            seen.add(column)
    if not source.has("calendar.txt") and not source.has("calendar_dates.txt"):
        errors.append(GtfsError("calendar.txt", None, "required file is missing (calendar.txt or "
                                                     "calendar_dates.txt must be present)"))
    timezone = None
    if "agency.txt" in headers and "agency_timezone" in headers["agency.txt"]:
        zones = [(i + 2, row.get("agency_timezone", "")) for i, row in enumerate(iter_rows(source, "agency.txt"))]
        for line, zone in zones:
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errors.append(GtfsError("agency.txt", line, f"agency_timezone {zone!r} is not a time zone"))
            else:
                timezone = timezone or zone
        if len({z for _, z in zones}) > 1:
            errors.append(GtfsError("agency.txt", None, "all agencies must share one agency_timezone"))
        if not zones:
            errors.append(GtfsError("agency.txt", None, "has no agency"))
    return errors, headers, timezone
