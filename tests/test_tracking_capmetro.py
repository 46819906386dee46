"""Trip inference on a real day of Capital Metro (Austin) AVL: the trip ids are stripped and the
tracker must find each bus's trip from its line alone (like JT/T 808 buses) or from nothing.

The figure: of the fixes that come after a vehicle's first three fixes on a trip, the share the
tracker put on that very trip (by trip_id).  Target >= 95 %.

The extracts carry no service calendars: as rebuilt, the feed runs every trip of every day type
every day (14,637 trips, of which 251 of the day's 2,148 have an exact twin: same stops, same
times), which no tracker can tell apart.  Its SOURCE.md says which trips ran on a day can only be
told from that day's AVL; so the day's timetable -- what a real feed's calendar would give -- is
the trips that ran, and the every-day feed is measured too, for the record.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from feeds.gtfs import import_gtfs
from transit.core.fix import Fix
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule
from transit.tracking.tracker import Tracker

AVL = "2016-11-25.csv"


def read_day(shared_data: Path) -> list[tuple[Fix, str]]:
    out = []
    with open(shared_data / "capmetro" / AVL, encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            ts = dt.datetime.fromisoformat(r["timestamp"]).timestamp()
            fix = Fix(r["vehicle_id"], ts, float(r["latitude"]), float(r["longitude"]),
                      speed_mps=float(r["speed"]) if r["speed"] else None, trip_id=r["trip_id"],
                      route_id=r["route_id"])
            out.append((fix, r["trip_id"]))
    out.sort(key=lambda p: p[0].ts)
    return out


def day_timetable(gtfs: Path, shared_data: Path, out: Path) -> Path:
    """The rebuilt feed with a calendar for 2016-11-25: the trips that ran that day."""
    shutil.copytree(gtfs, out)
    with open(shared_data / "capmetro" / AVL, encoding="utf-8", newline="") as fh:
        ran = {r["trip_id"] for r in csv.DictReader(fh)}
    with open(out / "trips.txt", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    service, trip = rows[0].index("service_id"), rows[0].index("trip_id")
    for row in rows[1:]:
        if row[trip] in ran:
            row[service] = "DAY"
    with open(out / "trips.txt", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    (out / "calendar_dates.txt").write_text(
        "service_id,date,exception_type\nALL,20161125,2\nDAY,20161125,1\n", encoding="utf-8")
    return out


def replay(index: ScheduleIndex, day: list[tuple[Fix, str]], mode: str) -> dict[str, float]:
    """Replay in 10 s batches with ids stripped; score each fix after the first three on a trip."""
    tracker = Tracker(index)
    on_trip: dict[str, tuple[str, int]] = {}
    right = wrong = unknown = 0
    twins = 0
    signature = {}
    for t in range(index.n_trips):
        rows = index.trip_calls(t)
        signature[index.trip_ids[t]] = (tuple(index.st_stop[rows].tolist()), tuple(index.st_arr_s[rows].tolist()))
    i = 0
    while i < len(day):
        end = day[i][0].ts + 10.0
        j = i
        while j < len(day) and day[j][0].ts < end:
            j += 1
        batch = [f for f, _ in day[i:j]]
        if mode == "route":
            batch = [replace(f, trip_id=None) for f in batch]
        else:
            batch = [replace(f, trip_id=None, route_id=None) for f in batch]
        tracker.apply(batch, day[j - 1][0].ts)
        for fix, true in day[i:j]:
            prev, n = on_trip.get(fix.vehicle_id, ("", 0))
            n = n + 1 if prev == true else 1
            on_trip[fix.vehicle_id] = (true, n)
            if n <= 3:
                continue
            v = tracker.vehicles.get(fix.vehicle_id)
            got = index.trip_ids[v.trip] if v is not None and v.trip >= 0 else None
            if got == true:
                right += 1
            else:
                wrong += 1
                if true not in signature:
                    unknown += 1
                elif got is not None and signature[got] == signature[true]:
                    twins += 1
        i = j
    total = right + wrong
    return {"fixes": total, "right": right / total, "right_known_trips": right / (total - unknown),
            "right_or_identical_twin": (right + twins) / total, "trip_not_in_gtfs": unknown}


@pytest.fixture
async def day_index(pool, capmetro_gtfs: Path, shared_data: Path, tmp_path: Path) -> ScheduleIndex:
    await import_gtfs(pool, day_timetable(capmetro_gtfs, shared_data, tmp_path / "day"))
    index = await load_schedule(pool)
    assert index is not None
    return index


def report(label: str, figures: dict[str, float]) -> None:
    print(f"\nCapital Metro 2016-11-25, {label}: {100 * figures['right']:.1f}% of {figures['fixes']:,} fixes on the "
          f"right trip after a vehicle's first three on it ({100 * figures['right_known_trips']:.1f}% leaving out "
          f"the {figures['trip_not_in_gtfs']} fixes of trips the GTFS does not have)")


async def test_trips_inferred_from_the_line_alone(day_index: ScheduleIndex, shared_data: Path) -> None:
    figures = replay(day_index, read_day(shared_data), "route")
    report("trip ids stripped, line kept", figures)
    assert figures["right"] >= 0.95


async def test_trips_inferred_from_nothing_at_all(day_index: ScheduleIndex, shared_data: Path) -> None:
    figures = replay(day_index, read_day(shared_data), "none")
    report("trip and line stripped", figures)
    assert figures["right"] >= 0.95


async def test_on_the_every_day_feed_identical_twins_are_the_limit(
    pool, capmetro_gtfs: Path, shared_data: Path
) -> None:
    """With every day type's trips running at once, the tracker cannot know which twin ran; it
    still picks a trip with the bus's stops and times for most fixes."""
    await import_gtfs(pool, capmetro_gtfs)
    index = await load_schedule(pool)
    assert index is not None
    figures = replay(index, read_day(shared_data), "route")
    report("every-day feed (no calendar), line kept", figures)
    print(f"  counting a trip with identical stops and times as right: "
          f"{100 * figures['right_or_identical_twin']:.1f}%")
    assert figures["right_or_identical_twin"] > figures["right"]
    assert figures["right_or_identical_twin"] >= 0.6


def test_the_rebuilt_feed_marks_the_timetables_whole_minutes_as_timepoints(capmetro_gtfs: Path) -> None:
    """CapMetro's timetable fixes times at timepoints, on whole minutes, and interpolates the
    stops between them to the second: only those, and each trip's ends, are exact.  Where the
    extract copies a timepoint's time to the stops after it (route 37), only the first is."""
    with open(capmetro_gtfs / "stop_times.txt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_trip: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_trip.setdefault(r["trip_id"], []).append(r)
    for calls in by_trip.values():
        calls.sort(key=lambda r: int(r["stop_sequence"]))
        assert calls[0]["timepoint"] == "1" and calls[-1]["timepoint"] == "1"
        for before, r in itertools.pairwise(calls[:-1]):
            exact = r["arrival_time"].endswith(":00") and r["arrival_time"] != before["arrival_time"]
            assert r["timepoint"] == ("1" if exact else "0"), r
    copies = [r for r in by_trip["1675653"] if r["arrival_time"] == "15:16:00"]
    assert [r["timepoint"] for r in copies] == ["1"] + ["0"] * (len(copies) - 1) and len(copies) == 12
    share = sum(r["timepoint"] == "1" for r in rows) / len(rows)
    print(f"\ntimepoints: {share:.1%} of {len(rows):,} stop times")
    assert 0.15 < share < 0.35  # about one stop time in four, far above the one in sixty of chance
