"""Rebuild a GTFS feed from the Capital Metro (Austin) schedule and stops extracts.

Usage::

    python -m feeds.gtfs.capmetro ../shared/data/capmetro OUT_DIR_OR_ZIP

The extracts in ``../shared/data/capmetro`` (see its SOURCE.md) hold, per trip, the scheduled
arrival at each stop and the weekday flags, plus the stops; they carry no routes, headsigns,
directions, shapes or calendars.  This script rebuilds what it can:

* **stop order**: ``stop_sequence`` is the rank of ``arrival_time`` within a trip (ties keep file
  order).  Loop trips visit a stop twice, so a call is identified by ``stop_sequence``.
* **routes, headsigns, directions**: taken from the day of AVL (``2016-11-25.csv``) for every trip
  that ran that day.  A trip that did not run takes the route, headsign and direction of a trip
  that ran with exactly the same stop pattern; failing that, of a trip with the same first and
  last stop.  The remaining trips are grouped by stop pattern into routes named ``P<n>``
  ("unidentified pattern"), so that the feed keeps every trip of the extract.
* ``direction_id``: the headsign's suffix (NB/SB, EB/WB, IB/OB ...) per route, first seen = 0.
* **calendar**: one service per distinct weekday pattern, valid 2016-08-21..2017-01-21.
  Every trip in the extract has all seven flags set, so the feed runs every trip every day.
* **no shapes**: the tracker falls back to straight stop-to-stop segments.
* **agency time zone** America/Chicago; departure_time = arrival_time.
* ``timepoint``: the extract gives a time at every stop, but the agency's timetable fixes times
  only at its timepoints, on whole minutes, and interpolates the stops between them to the
  second.  So a time on a whole minute (about one stop time in four, against one in sixty by chance),
  and the first and last stop of a trip, are marked ``timepoint=1``; the others ``0``
  (approximate).  The day's AVL bears this out: buses arrive early at those stops, but hardly
  ever at the stop after one, as buses held there until their time would.  Where the extract
  copies a timepoint's time to the stops after it (route 37, up to eleven stops), only the first
  of the run is the timepoint.

The output is a folder of .txt files, or a zip when OUT ends in ``.zip``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

SCHEDULE = "schedule_20160821_20170121.csv.gz"
STOPS = "stops_20160821_20170121.csv.gz"
AVL = "2016-11-25.csv"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _seconds(text: str) -> int:
    h, m, s = text.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _direction_suffix(headsign: str) -> str:
    tail = headsign.rsplit("-", 1)[-1].strip()
    return tail if len(tail) == 2 and tail.isalpha() and tail.isupper() else headsign


def convert(src: Path, out: Path) -> dict[str, int]:
    """Write the GTFS; return counts of what was written and how trips got their route."""
    trips: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    flags: dict[str, tuple[str, ...]] = {}
    with gzip.open(src / SCHEDULE, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for order, row in enumerate(reader):
            trip_id = row["trip_id"]
            trips[trip_id].append((_seconds(row["arrival_time"]), order, row["stop_id"]))
            if trip_id not in flags:
                # The extract's day columns run sunday..saturday; GTFS wants monday..sunday.
                flags[trip_id] = tuple(row[d] for d in DAYS)

    ran: dict[str, tuple[str, str]] = {}
    with open(src / AVL, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["trip_id"] and row["route_id"]:
                ran.setdefault(row["trip_id"], (row["route_id"], row["trip_headsign"]))

    pattern_of = {t: tuple(stop for _, _, stop in sorted(calls)) for t, calls in trips.items()}
    by_pattern: dict[tuple[str, ...], tuple[str, str]] = {}
    by_ends: dict[tuple[str, str], tuple[str, str]] = {}
    for trip_id, info in ran.items():
        if trip_id in pattern_of:
            pattern = pattern_of[trip_id]
            by_pattern.setdefault(pattern, info)
            by_ends.setdefault((pattern[0], pattern[-1]), info)

    how: Counter[str] = Counter()
    assigned: dict[str, tuple[str, str]] = {}
    unknown_patterns: dict[tuple[str, str], str] = {}
    for trip_id in trips:
        pattern = pattern_of[trip_id]
        if trip_id in ran:
            assigned[trip_id] = ran[trip_id]
            how["route from AVL"] += 1
        elif pattern in by_pattern:
            assigned[trip_id] = by_pattern[pattern]
            how["route from same stop pattern"] += 1
        elif (pattern[0], pattern[-1]) in by_ends:
            assigned[trip_id] = by_ends[(pattern[0], pattern[-1])]
            how["route from same end stops"] += 1
        else:
            key = (pattern[0], pattern[-1])
            name = unknown_patterns.setdefault(key, f"P{len(unknown_patterns) + 1}")
            assigned[trip_id] = (name, f"{name}-unidentified pattern")
            how["unidentified pattern route"] += 1

    directions: dict[str, dict[str, int]] = defaultdict(dict)
    for route_id, headsign in sorted(set(assigned.values())):
        suffix = _direction_suffix(headsign)
        known = directions[route_id]
        if suffix not in known:
            known[suffix] = min(len(known), 1)

    services: dict[tuple[str, ...], str] = {}
    for pattern in sorted(set(flags.values())):
        services[pattern] = "ALL" if all(f == "1" for f in pattern) else "S" + "".join(pattern)

    files: dict[str, list[list[str]]] = {
        "agency.txt": [["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"],
                       ["CMTA", "Capital Metro", "https://www.capmetro.org", "America/Chicago", "en"]],
        "calendar.txt": [["service_id", *DAYS, "start_date", "end_date"]]
        + [[sid, *pattern, "20160821", "20170121"] for pattern, sid in services.items()],
    }
    stops = [["stop_id", "stop_name", "stop_lat", "stop_lon"]]
    with gzip.open(src / STOPS, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            stops.append([row["stop_id"], row["stop_name"], row["stop_lat"], row["stop_lon"]])
    files["stops.txt"] = stops
    routes = [["route_id", "agency_id", "route_short_name", "route_long_name", "route_type"]]
    long_names: dict[str, str] = {}
    for route_id, headsign in sorted(set(assigned.values())):
        base = headsign.rsplit("-", 1)[0] if "-" in headsign else headsign
        long_names.setdefault(route_id, base.split("-", 1)[-1])
    for route_id in sorted(long_names, key=lambda r: (not r.isdigit(), int(r) if r.isdigit() else 0, r)):
        routes.append([route_id, "CMTA", route_id, long_names[route_id], "3"])
    files["routes.txt"] = routes
    trip_rows = [["route_id", "service_id", "trip_id", "trip_headsign", "direction_id"]]
    stop_times = [["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "timepoint"]]
    for trip_id, calls in trips.items():
        route_id, headsign = assigned[trip_id]
        direction = directions[route_id][_direction_suffix(headsign)]
        trip_rows.append([route_id, services[flags[trip_id]], trip_id, headsign, str(direction)])
        ordered = sorted(calls)
        previous = None
        for seq, (arrival, _, stop_id) in enumerate(ordered, start=1):
            t = _hms(arrival)
            exact = (arrival % 60 == 0 and arrival != previous) or seq == 1 or seq == len(ordered)
            previous = arrival
            stop_times.append([trip_id, t, t, stop_id, str(seq), "1" if exact else "0"])
    files["trips.txt"] = trip_rows
    files["stop_times.txt"] = stop_times
    _write(files, out)
    counts = {name.removesuffix(".txt"): len(rows) - 1 for name, rows in files.items()}
    counts.update({f"trips: {k}": v for k, v in how.items()})
    return counts


def _write(files: dict[str, list[list[str]]], out: Path) -> None:
    if out.suffix == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, rows in files.items():
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(rows)
                zf.writestr(name, buf.getvalue())
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        with open(out / name, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="folder holding the Capital Metro extracts")
    parser.add_argument("out", type=Path, help="output folder, or a path ending in .zip")
    args = parser.parse_args(argv)
    counts = convert(args.src, args.out)
    for key, value in counts.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
