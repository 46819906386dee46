"""Read a GTFS zip or folder straight into a :class:`ScheduleIndex`, without a database.

The service always goes through ``import-gtfs`` and PostgreSQL.  This is for the simulator, its
tests and benchmarks, and offline evaluation: the same parser and the same whole-feed checks as
the importer, then the same :class:`ScheduleTables` the database loader fills.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feeds.gtfs.checks import check_feed
from feeds.gtfs.errors import GtfsImportFailed
from feeds.gtfs.parse import ParsedFile, read_file
from feeds.gtfs.preflight import check_files
from feeds.gtfs.source import GtfsSource
from feeds.gtfs.spec import FILES
from transit.schedule.build import ScheduleTables, build_index
from transit.schedule.index import ScheduleIndex


def _columns(parsed: ParsedFile | None, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        values = parsed.columns.get(name) if parsed is not None else None
        if values is None:
            n = parsed.rows if parsed is not None else 0
            out[name] = [None] * n
        elif pa.types.is_string(values.type):
            out[name] = values.to_pylist()
        else:
            out[name] = np.asarray(pc.fill_null(values.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False))
    return out


def read_tables(path: Path, feed_id: int = 0) -> ScheduleTables:
    """Parse and check ``path``; raise :class:`GtfsImportFailed` naming every error."""
    with GtfsSource(Path(path)) as source:
        errors, headers, timezone = check_files(source)
        if errors:
            raise GtfsImportFailed(errors)
        files = {spec.file: read_file(spec, source.read(spec.file), headers[spec.file])
                 for spec in FILES if spec.file in headers}
    errors = [e for p in files.values() for e in p.errors] or check_feed(files)
    if errors:
        raise GtfsImportFailed(errors)
    week = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    calendar = []
    if "calendar.txt" in files:
        c = files["calendar.txt"].columns
        for i in range(files["calendar.txt"].rows):
            calendar.append((c["service_id"][i].as_py(), tuple(int(c[d][i].as_py()) for d in week),
                             c["start_date"][i].as_py(), c["end_date"][i].as_py()))
    dates = []
    if "calendar_dates.txt" in files:
        c = files["calendar_dates.txt"].columns
        dates = list(zip(c["service_id"].to_pylist(), c["date"].to_pylist(), c["exception_type"].to_pylist(),
                         strict=True))
    translations = []
    if "translations.txt" in files:
        c = _columns(files["translations.txt"], ["table_name", "field_name", "language", "translation",
                                                  "record_id", "field_value"])
        for i in range(files["translations.txt"].rows):
            key = c["record_id"][i] or c["field_value"][i]
            if key:
                translations.append((c["table_name"][i], c["field_name"][i], c["language"][i], key,
                                     c["translation"][i]))
    stops = files["stops.txt"]
    if "location_type" in stops.columns:  # stations and entrances are not served by buses
        keep = pc.fill_null(pc.equal(stops.columns["location_type"], 0), True)
        stops = ParsedFile(stops.spec, pc.sum(pc.cast(keep, pa.int64())).as_py() or 0,
                           {k: pc.filter(v, keep) for k, v in stops.columns.items()})
    agency = files["agency.txt"].columns
    frequencies = _columns(files.get("frequencies.txt"), ["trip_id", "start_s", "end_s", "headway_secs", "exact_times"])
    frequencies["headway_s"] = frequencies.pop("headway_secs")
    return ScheduleTables(
        feed_id=feed_id, timezone=timezone or "UTC", agency_name=agency["agency_name"][0].as_py() or "",
        stops=_columns(stops, ["stop_id", "stop_name", "stop_lat", "stop_lon", "stop_code",
                                            "parent_station"]),
        routes=_columns(files["routes.txt"], ["route_id", "route_short_name", "route_long_name", "route_type",
                                              "route_color", "agency_id"]),
        trips=_columns(files["trips.txt"], ["trip_id", "route_id", "service_id", "trip_headsign", "direction_id",
                                            "block_id", "shape_id"]),
        stop_times=_columns(files["stop_times.txt"], ["trip_id", "stop_sequence", "stop_id", "arrival_s",
                                                      "departure_s", "pickup_type", "drop_off_type",
                                                      "stop_headsign", "timepoint"]),
        shapes=_columns(files.get("shapes.txt"), ["shape_id", "shape_pt_sequence", "shape_pt_lat", "shape_pt_lon"]),
        calendar=calendar, calendar_dates=dates, frequencies=frequencies, translations=translations,
    )


def read_index(path: Path, feed_id: int = 0) -> ScheduleIndex:
    return build_index(read_tables(path, feed_id))
