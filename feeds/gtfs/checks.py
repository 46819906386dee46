"""Whole-feed checks on the parsed columns: references between files, stop order, services.

Pure (Arrow and numpy in, GtfsErrors out).  Every error names the file and the line.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feeds.gtfs.errors import GtfsError
from feeds.gtfs.parse import MAX_ERRORS_PER_CHECK, ParsedFile


def _np(values: pa.Array, fill: float = np.nan) -> np.ndarray:
    return np.asarray(pc.fill_null(values.cast(pa.float64()), fill).to_numpy(zero_copy_only=False))


def _col(parsed: ParsedFile, name: str) -> pa.Array:
    return parsed.columns.get(name, pa.nulls(parsed.rows, pa.string()))


def _missing_refs(values: pa.Array, known: pa.Array) -> np.ndarray:
    present = pc.is_in(values, value_set=pc.unique(pc.drop_null(known)))
    ok = pc.or_(pc.fill_null(present, False), pc.is_null(values))
    return np.flatnonzero(~np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool))


class _Errors:
    def __init__(self) -> None:
        self.items: list[GtfsError] = []

    def rows(self, parsed: ParsedFile, rows: np.ndarray, message: object) -> None:
        for r in rows[:MAX_ERRORS_PER_CHECK]:
            text = message(int(r)) if callable(message) else str(message)
            self.items.append(GtfsError(parsed.spec.file, parsed.line_of(int(r)), text))


def _duplicates(errors: _Errors, parsed: ParsedFile, keys: tuple[str, ...]) -> None:
    if parsed.rows == 0 or not all(k in parsed.columns for k in keys):
        return
    cols = [parsed.columns[k] for k in keys]
    table = pa.table({f"k{i}": c for i, c in enumerate(cols)}).append_column(
        "row", pa.array(np.arange(parsed.rows, dtype=np.int64)))
    grouped = table.group_by([f"k{i}" for i in range(len(keys))]).aggregate(
        [("row", "min"), ("row", "max"), ("row", "count")])
    dup = grouped.filter(pc.greater(grouped["row_count"], 1))
    for i in range(min(dup.num_rows, MAX_ERRORS_PER_CHECK)):
        values = " ".join(repr(dup[f"k{j}"][i].as_py()) for j in range(len(keys)))
        first = int(dup["row_min"][i].as_py())
        errors.items.append(GtfsError(parsed.spec.file, parsed.line_of(int(dup["row_max"][i].as_py())),
                                      f"duplicate {', '.join(keys)} {values} (first on line {first + 2})"))


def check_feed(files: dict[str, ParsedFile]) -> list[GtfsError]:
    errors = _Errors()
    stops, routes, trips = files.get("stops.txt"), files.get("routes.txt"), files.get("trips.txt")
    stop_times, shapes = files.get("stop_times.txt"), files.get("shapes.txt")
    calendar, dates, freqs = files.get("calendar.txt"), files.get("calendar_dates.txt"), files.get("frequencies.txt")

    for parsed in files.values():
        if parsed.spec.key and parsed.spec.file != "frequencies.txt":
            _duplicates(errors, parsed, parsed.spec.key)
    if freqs is not None:
        _duplicates(errors, freqs, ("trip_id", "start_s"))
    if shapes is not None:
        _duplicates(errors, shapes, ("shape_id", "shape_pt_sequence"))

    if stops is not None:
        lat, lon = _np(_col(stops, "stop_lat")), _np(_col(stops, "stop_lon"))
        ltype = _np(_col(stops, "location_type"), 0)
        located = np.isin(ltype, (0, 1, 2))
        bad = located & (np.isnan(lat) | np.isnan(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
                         | ((lat == 0) & (lon == 0)))
        ids = _col(stops, "stop_id")
        errors.rows(stops, np.flatnonzero(bad), lambda r: (
            f"stop {ids[r].as_py()!r} has no position" if np.isnan(lat[r]) or np.isnan(lon[r])
            else f"stop {ids[r].as_py()!r} position {lat[r]},{lon[r]} is not a valid latitude,longitude"))

    if trips is not None:
        if routes is not None:
            rows = _missing_refs(_col(trips, "route_id"), _col(routes, "route_id"))
            errors.rows(trips, rows, lambda r: f"route_id {_col(trips, 'route_id')[r].as_py()!r} is not in routes.txt")
        active = _services_with_days(calendar, dates)
        rows = _missing_refs(_col(trips, "service_id"), active)
        errors.rows(trips, rows, lambda r: (
            f"trip {_col(trips, 'trip_id')[r].as_py()!r} has no service: service_id "
            f"{_col(trips, 'service_id')[r].as_py()!r} has no day in calendar.txt or calendar_dates.txt"))
        if shapes is not None:
            rows = _missing_refs(_col(trips, "shape_id"), _col(shapes, "shape_id"))
            errors.rows(trips, rows, lambda r: f"shape_id {_col(trips, 'shape_id')[r].as_py()!r} is not in shapes.txt")
        direction = _np(_col(trips, "direction_id"), 0)
        errors.rows(trips, np.flatnonzero(~np.isin(direction, (0, 1))),
                    lambda r: f"direction_id {int(direction[r])} must be 0 or 1")

    if stop_times is not None:
        if trips is not None:
            st_trips = _col(stop_times, "trip_id")
            errors.rows(stop_times, _missing_refs(st_trips, _col(trips, "trip_id")),
                        lambda r: f"trip_id {st_trips[r].as_py()!r} is not in trips.txt")
        if stops is not None:
            st_stops = _col(stop_times, "stop_id")
            errors.rows(stop_times, _missing_refs(st_stops, _col(stops, "stop_id")),
                        lambda r: f"stop_id {st_stops[r].as_py()!r} is not in stops.txt")
        _stop_order(errors, stop_times)

    if freqs is not None and freqs.rows:
        if trips is not None:
            f_trips = _col(freqs, "trip_id")
            errors.rows(freqs, _missing_refs(f_trips, _col(trips, "trip_id")),
                        lambda r: f"trip_id {f_trips[r].as_py()!r} is not in trips.txt")
        headway = _np(_col(freqs, "headway_secs"), 1)
        errors.rows(freqs, np.flatnonzero(headway <= 0), lambda r: f"headway_secs {int(headway[r])} must be positive")
        start, end = _np(_col(freqs, "start_s")), _np(_col(freqs, "end_s"))
        errors.rows(freqs, np.flatnonzero(end <= start), "end_time is not after start_time")

    if calendar is not None and calendar.rows:
        flags = np.stack([_np(_col(calendar, d), 0) for d in
                          ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")])
        errors.rows(calendar, np.flatnonzero(((flags != 0) & (flags != 1)).any(axis=0)),
                    "weekday flags must be 0 or 1")
        start = _col(calendar, "start_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
        end = _col(calendar, "end_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
        errors.rows(calendar, np.flatnonzero(np.nan_to_num(end, nan=1e9) < np.nan_to_num(start, nan=0)),
                    "end_date is before start_date")
    if dates is not None and dates.rows:
        kind = _np(_col(dates, "exception_type"), 1)
        errors.rows(dates, np.flatnonzero(~np.isin(kind, (1, 2))),
                    lambda r: f"exception_type {int(kind[r])} must be 1 (added) or 2 (removed)")
    out = errors.items
    out.sort(key=lambda e: (e.file, e.line or 0))
    return out


def _services_with_days(calendar: ParsedFile | None, dates: ParsedFile | None) -> pa.Array:
    found: list[pa.Array] = []
    if calendar is not None and calendar.rows:
        flags = np.stack([_np(_col(calendar, d), 0) for d in
                          ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")])
        found.append(pc.filter(_col(calendar, "service_id"), pa.array((flags == 1).any(axis=0))))
    if dates is not None and dates.rows:
        found.append(pc.filter(_col(dates, "service_id"), pc.equal(_col(dates, "exception_type"), 1)))
    if not found:
        return pa.array([], pa.string())
    return pa.concat_arrays([f.cast(pa.string()) for f in found])


def _stop_order(errors: _Errors, st: ParsedFile) -> None:
    """Repeated stop_sequence, times that run backwards along stop_sequence, untimed end stops."""
    n = st.rows
    if n == 0:
        return
    codes = pc.dictionary_encode(_col(st, "trip_id")).indices.to_numpy(zero_copy_only=False)
    codes = np.nan_to_num(codes.astype(np.float64), nan=-1).astype(np.int64)
    seq = _np(_col(st, "stop_sequence"), -1).astype(np.int64)
    arr = _np(_col(st, "arrival_s"))
    dep = _np(_col(st, "departure_s"))
    order = np.lexsort((np.arange(n), seq, codes))
    c, s = codes[order], seq[order]
    a = np.where(np.isnan(arr[order]), dep[order], arr[order])
    d = np.where(np.isnan(dep[order]), arr[order], dep[order])
    same = np.zeros(n, dtype=bool)
    same[1:] = c[1:] == c[:-1]
    trips = _col(st, "trip_id")

    def trip(r: int) -> str:
        return repr(trips[r].as_py())

    repeat = np.zeros(n, dtype=bool)
    repeat[1:] = same[1:] & (s[1:] == s[:-1])
    errors.rows(st, order[repeat], lambda r: f"stop_sequence {seq[r]} repeats in trip {trip(r)} "
                                             "(stop_sequence must increase along the trip)")
    errors.rows(st, order[s < 0], lambda r: f"stop_sequence {seq[r]} is negative")
    # running maximum of the previous departures within each trip
    big = 1e7
    timed = np.where(np.isnan(d), -1.0, d) + c * big
    prev = np.maximum.accumulate(timed)
    prev_max = np.full(n, -np.inf)
    prev_max[1:] = prev[:-1] - c[1:] * big
    back = same & ~np.isnan(a) & (a < prev_max) & ~repeat
    errors.rows(st, order[back], lambda r: (f"trip {trip(r)}: stop_sequence {seq[r]} is timed before the stop "
                                            "before it (times must not decrease along stop_sequence)"))
    errors.rows(st, np.flatnonzero(arr > dep), lambda r: f"trip {trip(r)} stop_sequence {seq[r]} departs before it arrives")
    first = ~same
    last = np.ones(n, dtype=bool)
    last[:-1] = ~same[1:]
    untimed = (first | last) & np.isnan(a)
    errors.rows(st, order[untimed], lambda r: (f"trip {trip(r)}: its first and last stops need times "
                                               f"(stop_sequence {seq[r]} has none)"))
