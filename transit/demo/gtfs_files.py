"""Read a GTFS folder or zip straight into a :class:`ScheduleIndex`, without a database.

The service always goes through ``import-gtfs`` and PostgreSQL; this reader exists for the
simulator's own tests and for benchmarks that need a schedule (the demo network, a generated
500-line city) without paying for an import.  It fills the same :class:`ScheduleTables` the
database loader fills, parsed with pyarrow so a feed of millions of stop times reads in seconds.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from transit.schedule.build import ScheduleTables, build_index
from transit.schedule.index import ScheduleIndex


def _files(path: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if path.is_dir():
        for child in sorted(path.glob("*.txt")):
            out[child.name] = child.read_bytes()
    else:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base.endswith(".txt") and base not in out:
                    out[base] = zf.read(info)
    return out


def _table(data: bytes | None) -> pa.Table | None:
    if not data:
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    header = data.split(b"\n", 1)[0].decode("utf-8").strip().split(",")
    types = {name.strip(): pa.string() for name in header}
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=[n.strip() for n in header], skip_rows=1),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )


def _strings(table: pa.Table | None, name: str, n: int) -> list[Any]:
    if table is None or name not in table.column_names:
        return [None] * n
    return [None if v is None or v.strip() == "" else v.strip() for v in table.column(name).to_pylist()]


def _numbers(table: pa.Table | None, name: str, n: int) -> np.ndarray:
    if table is None or name not in table.column_names:
        return np.full(n, np.nan)
    col = pc.utf8_trim_whitespace(table.column(name))
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    return col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)


def _times(table: pa.Table, name: str) -> np.ndarray:
    """"H:MM:SS" (hours may pass 24) to seconds; empty to NaN."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = pc.utf8_trim_whitespace(table.column(name).fill_null(""))
    valid = pc.greater(pc.utf8_length(col), 0).to_numpy(zero_copy_only=False)
    filled = pc.if_else(pc.greater(pc.utf8_length(col), 0), col, "0:00:00")
    parts = pc.list_flatten(pc.split_pattern(filled, ":")).cast(pa.int64()).to_numpy()
    secs = (parts.reshape(-1, 3) @ np.array([3600, 60, 1])).astype(np.float64)
    secs[~valid] = np.nan
    return secs


def _date(text: str) -> dt.date:
    return dt.datetime.strptime(text.strip(), "%Y%m%d").date()


def read_tables(path: Path, feed_id: int = 0) -> ScheduleTables:
    files = {name: _table(data) for name, data in _files(Path(path)).items()}
    agency = files.get("agency.txt")
    if agency is None:
        raise ValueError(f"{path}: agency.txt is missing")
    timezone = _strings(agency, "agency_timezone", agency.num_rows)[0] or "UTC"
    agency_name = _strings(agency, "agency_name", agency.num_rows)[0] or ""

    stops_t = files["stops.txt"]
    n = stops_t.num_rows
    keep = np.nan_to_num(_numbers(stops_t, "location_type", n), nan=0) == 0
    stops = {name: [v for v, k in zip(_strings(stops_t, name, n), keep, strict=True) if k]
             for name in ("stop_id", "stop_name", "stop_code", "parent_station")}
    stops["stop_lat"] = _numbers(stops_t, "stop_lat", n)[keep]
    stops["stop_lon"] = _numbers(stops_t, "stop_lon", n)[keep]

    routes_t = files["routes.txt"]
    n = routes_t.num_rows
    routes: dict[str, Any] = {name: _strings(routes_t, name, n) for name in
                              ("route_id", "route_short_name", "route_long_name", "route_color", "agency_id")}
    routes["route_type"] = _numbers(routes_t, "route_type", n)

    trips_t = files["trips.txt"]
    n = trips_t.num_rows
    trips: dict[str, Any] = {name: _strings(trips_t, name, n) for name in
                             ("trip_id", "route_id", "service_id", "trip_headsign", "block_id", "shape_id")}
    trips["direction_id"] = _numbers(trips_t, "direction_id", n)

    st = files["stop_times.txt"]
    n = st.num_rows
    stop_times: dict[str, Any] = {
        "trip_id": _strings(st, "trip_id", n), "stop_id": _strings(st, "stop_id", n),
        "stop_sequence": _numbers(st, "stop_sequence", n), "arrival_s": _times(st, "arrival_time"),
        "departure_s": _times(st, "departure_time"), "pickup_type": _numbers(st, "pickup_type", n),
        "drop_off_type": _numbers(st, "drop_off_type", n),
    }

    shapes_t = files.get("shapes.txt")
    n = shapes_t.num_rows if shapes_t is not None else 0
    shapes: dict[str, Any] = {"shape_id": _strings(shapes_t, "shape_id", n)}
    for name in ("shape_pt_sequence", "shape_pt_lat", "shape_pt_lon"):
        shapes[name] = _numbers(shapes_t, name, n)

    calendar = []
    cal = files.get("calendar.txt")
    if cal is not None:
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        rows = cal.to_pylist()
        calendar = [(r["service_id"].strip(), tuple(int(r[d]) for d in days), _date(r["start_date"]),
                     _date(r["end_date"])) for r in rows]
    dates = []
    cd = files.get("calendar_dates.txt")
    if cd is not None:
        dates = [(r["service_id"].strip(), _date(r["date"]), int(r["exception_type"])) for r in cd.to_pylist()]

    fr = files.get("frequencies.txt")
    n = fr.num_rows if fr is not None else 0
    frequencies: dict[str, Any] = {"trip_id": _strings(fr, "trip_id", n)}
    if fr is not None:
        frequencies.update(start_s=_times(fr, "start_time"), end_s=_times(fr, "end_time"),
                           headway_s=_numbers(fr, "headway_secs", n), exact_times=_numbers(fr, "exact_times", n))
    else:
        frequencies.update(start_s=np.zeros(0), end_s=np.zeros(0), headway_s=np.zeros(0), exact_times=np.zeros(0))

    translations = []
    tr = files.get("translations.txt")
    if tr is not None:
        for r in tr.to_pylist():
            key = (r.get("record_id") or "").strip() or (r.get("field_value") or "").strip()
            if key:
                translations.append((r["table_name"], r["field_name"], r["language"], key, r["translation"]))

    return ScheduleTables(
        feed_id=feed_id, timezone=timezone, agency_name=agency_name, stops=stops, routes=routes, trips=trips,
        stop_times=stop_times, shapes=shapes, calendar=calendar, calendar_dates=dates, frequencies=frequencies,
        translations=translations,
    )


def read_index(path: Path, feed_id: int = 0) -> ScheduleIndex:
    """The schedule index of a GTFS folder or zip, built without a database."""
    return build_index(read_tables(path, feed_id))
