"""Build a :class:`ScheduleIndex` from a feed version's tables (pure: arrays in, arrays out)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from transit.schedule.geometry import LocalProjection, cumulative_length, monotone_stop_distances
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import build_calendar


@dataclass
class ScheduleTables:
    """Column arrays of one feed version, as the loader reads them.  Strings are object arrays or
    lists; missing values are None (strings) or NaN / -1 (numbers)."""

    feed_id: int
    timezone: str
    agency_name: str
    stops: dict[str, Any]  # stop_id, stop_name, stop_lat, stop_lon, stop_code, parent_station
    routes: dict[str, Any]  # route_id, route_short_name, route_long_name, route_type, route_color, agency_id
    trips: dict[str, Any]  # trip_id, route_id, service_id, trip_headsign, direction_id, block_id, shape_id
    stop_times: dict[str, Any]  # trip_id, stop_sequence, stop_id, arrival_s, departure_s, pickup_type,
    #                             drop_off_type, stop_headsign (optional)
    shapes: dict[str, Any]  # shape_id, shape_pt_sequence, shape_pt_lat, shape_pt_lon
    calendar: list[tuple[str, tuple[int, ...], dt.date, dt.date]]
    calendar_dates: list[tuple[str, dt.date, int]]
    frequencies: dict[str, Any]  # trip_id, start_s, end_s, headway_s, exact_times
    translations: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    # (table_name, field_name, language, key (record_id or field_value), translation)


def _strs(values: Any) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v) for v in values]


def _intern(values: list[Any]) -> tuple[tuple[str, ...], dict[str, int], NDArray[np.int32]]:
    ids = sorted({v for v in values if v is not None})
    pos = {v: i for i, v in enumerate(ids)}
    codes = np.array([pos[v] if v is not None else -1 for v in values], dtype=np.int32)
    return tuple(ids), pos, codes


def build_index(t: ScheduleTables) -> ScheduleIndex:
    # ---- stops
    stop_id_list = _strs(t.stops["stop_id"])
    order = np.argsort(np.array(stop_id_list, dtype=object), kind="stable")
    stop_ids = tuple(stop_id_list[i] for i in order)
    stop_pos = {s: i for i, s in enumerate(stop_ids)}
    stop_lat = np.asarray(t.stops["stop_lat"], dtype=np.float64)[order]
    stop_lon = np.asarray(t.stops["stop_lon"], dtype=np.float64)[order]
    finite = np.isfinite(stop_lat) & np.isfinite(stop_lon)
    lat0 = float(np.mean(stop_lat[finite])) if finite.any() else 0.0
    lon0 = float(np.mean(stop_lon[finite])) if finite.any() else 0.0
    proj = LocalProjection(lat0, lon0)
    stop_x, stop_y = proj.to_xy(stop_lat, stop_lon)
    names = _strs(t.stops["stop_name"])
    codes = _strs(t.stops.get("stop_code", [None] * len(order)))
    parents = _strs(t.stops.get("parent_station", [None] * len(order)))
    stop_name = tuple(names[i] or "" for i in order.tolist())
    stop_code = tuple(codes[i] for i in order.tolist())
    stop_parent = tuple(parents[i] for i in order.tolist())

    translations: dict[tuple[str, str, str], dict[str, str]] = {}
    for table, fld, lang, key, text in t.translations:
        translations.setdefault((table, fld, lang), {})[key] = text
    stop_en = translations.get(("stops", "stop_name", "en"), {})
    stop_name_en = tuple(stop_en.get(s) or stop_en.get(n) for s, n in zip(stop_ids, stop_name, strict=True))

    # ---- routes
    route_list = _strs(t.routes["route_id"])
    rorder = sorted(range(len(route_list)), key=lambda i: route_list[i])
    route_ids = tuple(route_list[i] for i in rorder)
    route_pos = {r: i for i, r in enumerate(route_ids)}
    short = _strs(t.routes.get("route_short_name", [None] * len(rorder)))
    long_ = _strs(t.routes.get("route_long_name", [None] * len(rorder)))
    route_short_name = tuple(short[i] or long_[i] or route_list[i] for i in rorder)
    route_long_name = tuple(long_[i] or "" for i in rorder)
    route_en = translations.get(("routes", "route_long_name", "en"), {})
    route_long_name_en = tuple(route_en.get(r) or route_en.get(n) for r, n in zip(route_ids, route_long_name, strict=True))
    rtype = np.asarray(t.routes.get("route_type", [3] * len(rorder)), dtype=np.float64)
    route_type = np.nan_to_num(rtype, nan=3).astype(np.int32)[rorder]
    colors = _strs(t.routes.get("route_color", [None] * len(rorder)))
    agencies = _strs(t.routes.get("agency_id", [None] * len(rorder)))

    # ---- services
    trip_services = _strs(t.trips["service_id"])
    service_ids = sorted(
        {s for s in trip_services if s} | {r[0] for r in t.calendar} | {r[0] for r in t.calendar_dates}
    )
    calendar = build_calendar(service_ids, t.calendar, t.calendar_dates)
    service_pos = {s: i for i, s in enumerate(service_ids)}

    # ---- trips
    trip_list = _strs(t.trips["trip_id"])
    torder = sorted(range(len(trip_list)), key=lambda i: trip_list[i])
    trip_ids = tuple(trip_list[i] for i in torder)
    trip_pos = {tr: i for i, tr in enumerate(trip_ids)}
    n_trips = len(trip_ids)
    trip_routes = _strs(t.trips["route_id"])
    trip_route = np.array([route_pos[trip_routes[i]] for i in torder], dtype=np.int32)
    trip_service = np.array([service_pos[trip_services[i]] for i in torder], dtype=np.int32)
    dirs = np.asarray(t.trips.get("direction_id", [np.nan] * n_trips), dtype=np.float64)
    trip_direction = np.nan_to_num(dirs, nan=-1).astype(np.int8)[torder]
    blocks_raw = _strs(t.trips.get("block_id", [None] * n_trips))
    block_ids, block_pos, block_codes = _intern(blocks_raw)
    trip_block = block_codes[torder] if n_trips else np.zeros(0, dtype=np.int32)
    heads = _strs(t.trips.get("trip_headsign", [None] * n_trips))
    trip_headsign_raw = [heads[i] for i in torder]
    head_en = translations.get(("trips", "trip_headsign", "en"), {})
    shape_raw = _strs(t.trips.get("shape_id", [None] * n_trips))
    trip_shape_ids = [shape_raw[i] for i in torder]

    # ---- stop times, sorted by (trip, sequence)
    st_trip_raw = _strs(t.stop_times["trip_id"])
    st_trip = np.array([trip_pos.get(x, -1) for x in st_trip_raw], dtype=np.int32)
    st_seq = np.asarray(t.stop_times["stop_sequence"], dtype=np.int64)
    sorter = np.lexsort((st_seq, st_trip))
    sorter = sorter[st_trip[sorter] >= 0]
    st_trip = st_trip[sorter]
    st_seq = st_seq[sorter].astype(np.int32)
    st_stop_raw = _strs(t.stop_times["stop_id"])
    st_stop = np.array([stop_pos[st_stop_raw[i]] for i in sorter], dtype=np.int32)
    arr = np.asarray(t.stop_times["arrival_s"], dtype=np.float64)[sorter]
    dep = np.asarray(t.stop_times["departure_s"], dtype=np.float64)[sorter]
    arr = np.where(np.isnan(arr), dep, arr)
    dep = np.where(np.isnan(dep), arr, dep)
    timed = ~np.isnan(arr)
    # GTFS timepoint: 0 marks a given time as approximate; absent or 1, it is exact
    tp = np.asarray(t.stop_times.get("timepoint", np.ones(len(st_trip_raw))), dtype=np.float64)
    st_exact = np.nan_to_num(tp[sorter] if len(tp) else tp, nan=1.0) != 0
    pick = np.asarray(t.stop_times.get("pickup_type", np.zeros(len(sorter))), dtype=np.float64)
    drop = np.asarray(t.stop_times.get("drop_off_type", np.zeros(len(sorter))), dtype=np.float64)
    st_pickup = np.nan_to_num(pick[sorter] if len(pick) else pick, nan=0).astype(np.int8)
    st_dropoff = np.nan_to_num(drop[sorter] if len(drop) else drop, nan=0).astype(np.int8)
    st_headsign = None
    if "stop_headsign" in t.stop_times:
        raw = _strs(t.stop_times["stop_headsign"])
        if any(raw):
            st_headsign = tuple(raw[i] for i in sorter)
    counts = np.bincount(st_trip, minlength=n_trips)
    trip_st_start = np.zeros(n_trips + 1, dtype=np.int64)
    trip_st_start[1:] = np.cumsum(counts)

    trip_headsign = []
    for k, i in enumerate(torder):
        h = trip_headsign_raw[k]
        if not h and counts[k]:  # no headsign: the last stop's name
            h = stop_name[st_stop[trip_st_start[k + 1] - 1]]
        trip_headsign.append(h or "")
        del i
    trip_headsign_en = tuple(
        head_en.get(tid) or head_en.get(h) for tid, h in zip(trip_ids, trip_headsign, strict=True)
    )

    # ---- shapes (feed shapes, then one synthetic per stop pattern of shapeless trips)
    shapes = _build_shapes(t, proj)
    shape_ids, shape_x, shape_y, shape_lat, shape_lon, shape_cum, shape_start = shapes
    shape_pos = {s: i for i, s in enumerate(shape_ids)}
    synthetic_of: dict[tuple[int, ...], int] = {}
    extra_x: list[NDArray[np.float64]] = []
    extra_y: list[NDArray[np.float64]] = []
    trip_shape = np.zeros(n_trips, dtype=np.int32)
    n_real = len(shape_ids)
    for k in range(n_trips):
        sid = trip_shape_ids[k]
        rows = slice(trip_st_start[k], trip_st_start[k + 1])
        if sid is not None and sid in shape_pos and shape_start[shape_pos[sid] + 1] - shape_start[shape_pos[sid]] >= 2:
            trip_shape[k] = shape_pos[sid]
            continue
        pattern = tuple(st_stop[rows].tolist())
        if pattern not in synthetic_of:
            synthetic_of[pattern] = n_real + len(synthetic_of)
            idx = np.array(pattern, dtype=np.int64)
            extra_x.append(stop_x[idx] if len(idx) else np.zeros(1))
            extra_y.append(stop_y[idx] if len(idx) else np.zeros(1))
        trip_shape[k] = synthetic_of[pattern]
    all_ids = list(shape_ids) + [f"~stops:{i}" for i in range(len(synthetic_of))]
    if extra_x:
        xs = [shape_x, *extra_x]
        ys = [shape_y, *extra_y]
        lens = np.array([len(a) for a in extra_x], dtype=np.int64)
        shape_start = np.concatenate([shape_start, shape_start[-1] + np.cumsum(lens)])
        shape_x = np.concatenate(xs)
        shape_y = np.concatenate(ys)
        lat_e, lon_e = proj.to_latlon(np.concatenate(extra_x), np.concatenate(extra_y))
        shape_lat = np.concatenate([shape_lat, lat_e])
        shape_lon = np.concatenate([shape_lon, lon_e])
        shape_cum = np.concatenate(
            [shape_cum] + [cumulative_length(a, b) for a, b in zip(extra_x, extra_y, strict=True)]
        )
    shape_synthetic = np.zeros(len(all_ids), dtype=bool)
    shape_synthetic[n_real:] = True

    # ---- distance of every call along its shape, once per (shape, stop pattern)
    st_dist = np.zeros(len(st_trip), dtype=np.float64)
    done: dict[tuple[int, tuple[int, ...]], NDArray[np.float64]] = {}
    for k in range(n_trips):
        rows = slice(trip_st_start[k], trip_st_start[k + 1])
        if rows.start == rows.stop:
            continue
        shp = int(trip_shape[k])
        pattern = tuple(st_stop[rows].tolist())
        key = (shp, pattern)
        if key not in done:
            sl = slice(shape_start[shp], shape_start[shp + 1])
            if shape_synthetic[shp]:
                done[key] = shape_cum[sl].copy()
            else:
                idx = np.array(pattern, dtype=np.int64)
                along, _ = monotone_stop_distances(
                    stop_x[idx], stop_y[idx], shape_x[sl], shape_y[sl], shape_cum[sl]
                )
                done[key] = along
        st_dist[rows] = done[key]

    # ---- fill untimed calls by distance between the timed calls around them
    arr, dep = _interpolate_times(arr, dep, timed, st_dist, trip_st_start)
    st_arr_s = np.round(arr).astype(np.int32)
    st_dep_s = np.round(dep).astype(np.int32)
    trip_first = np.zeros(n_trips, dtype=np.int32)
    trip_last = np.zeros(n_trips, dtype=np.int32)
    trip_len = np.zeros(n_trips, dtype=np.float64)
    has = counts > 0
    first_rows = trip_st_start[:-1][has]
    last_rows = trip_st_start[1:][has] - 1
    trip_first[has] = st_dep_s[first_rows]
    trip_last[has] = st_arr_s[last_rows]
    trip_len[has] = st_dist[last_rows] - st_dist[first_rows]

    # ---- frequencies
    f_trip_raw = _strs(t.frequencies.get("trip_id", []))
    f_trip = np.array([trip_pos[x] for x in f_trip_raw], dtype=np.int32)
    f_start = np.asarray(t.frequencies.get("start_s", []), dtype=np.int64)
    forder = np.lexsort((f_start, f_trip)) if len(f_trip) else np.zeros(0, dtype=np.int64)
    freq_trip = f_trip[forder]
    freq_start_s = f_start[forder].astype(np.int32)
    freq_end_s = np.asarray(t.frequencies.get("end_s", []), dtype=np.int64)[forder].astype(np.int32)
    freq_headway_s = np.asarray(t.frequencies.get("headway_s", []), dtype=np.int64)[forder].astype(np.int32)
    exact = np.asarray(t.frequencies.get("exact_times", []), dtype=np.float64)
    freq_exact = (np.nan_to_num(exact[forder], nan=0) == 1) if len(exact) else np.zeros(0, dtype=bool)
    trip_freq_start = np.zeros(n_trips + 1, dtype=np.int64)
    trip_freq_start[1:] = np.cumsum(np.bincount(freq_trip, minlength=n_trips))

    # ---- calls by stop, by departure time
    by_stop = np.lexsort((st_dep_s, st_stop))
    stop_call_start = np.zeros(len(stop_ids) + 1, dtype=np.int64)
    stop_call_start[1:] = np.cumsum(np.bincount(st_stop, minlength=len(stop_ids)))

    return ScheduleIndex(
        feed_id=t.feed_id, timezone=t.timezone, projection=proj,
        stop_ids=stop_ids, stop_pos=stop_pos, stop_lat=stop_lat, stop_lon=stop_lon, stop_x=stop_x,
        stop_y=stop_y, stop_name=stop_name, stop_name_en=stop_name_en, stop_code=stop_code,
        stop_parent=stop_parent,
        route_ids=route_ids, route_pos=route_pos, route_short_name=route_short_name,
        route_long_name=route_long_name, route_long_name_en=route_long_name_en, route_type=route_type,
        route_color=tuple(colors[i] for i in rorder), route_agency=tuple(agencies[i] for i in rorder),
        trip_ids=trip_ids, trip_pos=trip_pos, trip_route=trip_route, trip_service=trip_service,
        trip_direction=trip_direction, trip_block=trip_block, trip_shape=trip_shape,
        trip_headsign=tuple(trip_headsign), trip_headsign_en=trip_headsign_en,
        trip_st_start=trip_st_start, trip_first_dep_s=trip_first, trip_last_arr_s=trip_last,
        trip_length_m=trip_len,
        st_trip=st_trip, st_stop=st_stop, st_seq=st_seq, st_arr_s=st_arr_s, st_dep_s=st_dep_s,
        st_timepoint=timed & st_exact, st_pickup=st_pickup, st_dropoff=st_dropoff, st_dist_m=st_dist,
        st_headsign=st_headsign,
        shape_ids=tuple(all_ids), shape_pos={s: i for i, s in enumerate(all_ids)}, shape_start=shape_start,
        shape_lat=shape_lat, shape_lon=shape_lon, shape_x=shape_x, shape_y=shape_y, shape_dist_m=shape_cum,
        shape_synthetic=shape_synthetic,
        calendar=calendar,
        freq_trip=freq_trip, freq_start_s=freq_start_s, freq_end_s=freq_end_s,
        freq_headway_s=freq_headway_s, freq_exact=freq_exact, trip_freq_start=trip_freq_start,
        block_ids=block_ids, block_pos=block_pos,
        stop_call_start=stop_call_start, stop_call_st=by_stop.astype(np.int64),
        agency_name=t.agency_name, translations=translations,
    )


def _build_shapes(t: ScheduleTables, proj: LocalProjection) -> tuple[Any, ...]:
    ids_raw = _strs(t.shapes.get("shape_id", []))
    if not ids_raw:
        z = np.zeros(0)
        return (), z, z, z, z, z, np.zeros(1, dtype=np.int64)
    shape_ids, _, codes = _intern(ids_raw)
    seq = np.asarray(t.shapes["shape_pt_sequence"], dtype=np.int64)
    order = np.lexsort((seq, codes))
    codes = codes[order]
    lat = np.asarray(t.shapes["shape_pt_lat"], dtype=np.float64)[order]
    lon = np.asarray(t.shapes["shape_pt_lon"], dtype=np.float64)[order]
    x, y = proj.to_xy(lat, lon)
    start = np.zeros(len(shape_ids) + 1, dtype=np.int64)
    start[1:] = np.cumsum(np.bincount(codes, minlength=len(shape_ids)))
    step = np.zeros(len(x))
    step[1:] = np.hypot(np.diff(x), np.diff(y))
    step[start[:-1]] = 0.0  # each shape starts at zero
    cum = np.cumsum(step)
    cum -= np.repeat(cum[start[:-1]], np.diff(start))
    return shape_ids, x, y, lat, lon, cum, start


def _interpolate_times(
    arr: NDArray[np.float64], dep: NDArray[np.float64], timed: NDArray[np.bool_], dist: NDArray[np.float64],
    trip_start: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if timed.all():
        return arr, dep
    arr = arr.copy()
    dep = dep.copy()
    for k in range(len(trip_start) - 1):
        sl = slice(trip_start[k], trip_start[k + 1])
        tm = timed[sl]
        if tm.all() or not tm.any():
            continue
        d = dist[sl]
        idx = np.flatnonzero(tm)
        # interpolate on distance; equal distances fall back to position in the trip
        x = d + np.arange(len(d)) * 1e-3
        filled = np.interp(x, x[idx], dep[sl][idx])
        a = arr[sl]
        b = dep[sl]
        a[~tm] = filled[~tm]
        b[~tm] = filled[~tm]
        arr[sl] = a
        dep[sl] = b
    return arr, dep
