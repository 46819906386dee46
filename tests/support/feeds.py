"""Small GTFS feeds written on the fly, for tests that need a precise case.

``tiny_feed`` writes a two-route network (route R1 with a trip in each direction and a block
that joins them, route L a loop that visits stop A twice); callers replace whole files or append
rows to break it in one named way.
"""

from __future__ import annotations

from pathlib import Path

BASE: dict[str, str] = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
    "ZQ,章丘公交,https://example.invalid,Asia/Shanghai\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
    "A,甲站,36.7000,117.5000\n"
    "B,乙站,36.7000,117.5100\n"
    "C,丙站,36.7000,117.5200\n"
    "D,丁站,36.7090,117.5100\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
    "R1,ZQ,1,一路,3\n"
    "L,ZQ,L,环线,3\n",
    "trips.txt": "route_id,service_id,trip_id,trip_headsign,direction_id,block_id,shape_id\n"
    "R1,WK,T1,丙站,0,BLK1,\n"
    "R1,WK,T2,甲站,1,BLK1,\n"
    "L,WK,LOOP,环线,0,,\n"
    "R1,WK,NIGHT,丙站,0,,\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "T1,08:00:00,08:00:00,A,1\n"
    "T1,08:05:00,08:05:30,B,2\n"
    "T1,08:10:00,08:10:00,C,3\n"
    "T2,08:20:00,08:20:00,C,1\n"
    "T2,08:25:00,08:25:30,B,2\n"
    "T2,08:30:00,08:30:00,A,3\n"
    "LOOP,09:00:00,09:00:00,A,1\n"
    "LOOP,09:05:00,09:05:00,B,2\n"
    "LOOP,09:10:00,09:10:00,D,3\n"
    "LOOP,09:15:00,09:15:00,A,4\n"
    "NIGHT,25:10:00,25:10:00,A,1\n"
    "NIGHT,25:15:00,25:15:00,B,2\n"
    "NIGHT,25:20:00,25:20:00,C,3\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
    "WK,1,1,1,1,1,0,0,20260101,20261231\n",
    "calendar_dates.txt": "service_id,date,exception_type\n"
    "WK,20261128,1\n"
    "WK,20261130,2\n",
}


def tiny_feed(folder: Path, replace: dict[str, str] | None = None, append: dict[str, str] | None = None,
              drop: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = dict(BASE)
    files.update(replace or {})
    for name, rows in (append or {}).items():
        files[name] = files.get(name, "") + rows
    for name in drop:
        files.pop(name, None)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
