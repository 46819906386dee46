"""Service days: times past 24:00, calendar_dates exceptions, frequency trips, stop arrivals."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from feeds.gtfs import import_gtfs
from tests.support.feeds import tiny_feed
from transit.core.arrivals import list_arrivals, route_spans
from transit.core.snapshot import Snapshot
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule
from transit.schedule.timetable import instances_between

TZ = ZoneInfo("Asia/Shanghai")


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return dt.datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp()


@pytest.fixture
async def tiny(pool: asyncpg.Pool, tmp_path: Path) -> ScheduleIndex:
    await import_gtfs(pool, tiny_feed(tmp_path / "tiny"))
    index = await load_schedule(pool)
    assert index is not None
    return index


async def test_a_trip_at_25_10_runs_after_midnight_on_the_next_calendar_day(tiny: ScheduleIndex) -> None:
    # Thursday 2026-11-26's service: NIGHT departs 25:10 = Friday 01:10 local.
    found = [i for i in instances_between(tiny, at(2026, 11, 27, 1, 0), at(2026, 11, 27, 1, 30))
             if tiny.trip_ids[i.trip] == "NIGHT"]
    assert len(found) == 1
    assert found[0].service_date == dt.date(2026, 11, 26)
    assert found[0].start_ts == at(2026, 11, 27, 1, 10)
    arrivals = list_arrivals(Snapshot.empty(), tiny, "B", at(2026, 11, 27, 1, 0), horizon_s=3600)
    assert [(a.trip_id, a.service_date, a.arrival_ts) for a in arrivals] == [
        ("NIGHT", "20261126", at(2026, 11, 27, 1, 15))
    ]


async def test_calendar_dates_add_a_saturday_and_remove_a_monday(tiny: ScheduleIndex) -> None:
    saturday = dt.date(2026, 11, 28)  # added by calendar_dates
    monday = dt.date(2026, 11, 30)  # removed by calendar_dates
    plain_saturday = dt.date(2026, 12, 5)
    t1 = tiny.find_trip("T1")
    assert t1 is not None
    assert tiny.trips_running_on(saturday)[t1]
    assert not tiny.trips_running_on(monday)[t1]
    assert not tiny.trips_running_on(plain_saturday)[t1]
    assert tiny.trips_running_on(dt.date(2026, 12, 1))[t1]
    assert [a.trip_id for a in list_arrivals(Snapshot.empty(), tiny, "A", at(2026, 11, 30, 7, 50))] == []


async def test_schedule_arrivals_skip_a_trip_that_ends_at_the_stop(tiny: ScheduleIndex) -> None:
    arrivals = list_arrivals(Snapshot.empty(), tiny, "A", at(2026, 12, 1, 7, 50), horizon_s=2 * 3600)
    # T1 starts at A (08:00); T2 ends at A (08:30, no boarding); LOOP starts at A 09:00 and ends there.
    assert [(a.trip_id, a.stop_sequence) for a in arrivals] == [("T1", 1), ("LOOP", 1)]
    assert all(not a.realtime for a in arrivals)


async def test_first_and_last_bus_of_each_line(tiny: ScheduleIndex) -> None:
    spans = {s.route_id: s for s in route_spans(tiny, "B", at(2026, 12, 1, 12))}
    assert spans["R1"].first_ts == at(2026, 12, 1, 8, 5, ) + 30
    assert spans["R1"].last_ts == at(2026, 12, 2, 1, 15)  # NIGHT, 25:15 of Dec 1
    assert spans["R1"].next_first_ts == at(2026, 12, 2, 8, 5) + 30


async def test_loop_distances_keep_the_second_visit_of_a_stop_last(tiny: ScheduleIndex) -> None:
    loop = tiny.find_trip("LOOP")
    assert loop is not None
    rows = tiny.trip_calls(loop)
    dist = tiny.st_dist_m[rows]
    assert list(tiny.st_seq[rows]) == [1, 2, 3, 4]
    assert dist[0] == 0 and all(dist[1:] > dist[:-1])


async def test_unknown_stop_is_a_lookup_error(tiny: ScheduleIndex) -> None:
    with pytest.raises(LookupError, match="NOPE"):
        list_arrivals(Snapshot.empty(), tiny, "NOPE", at(2026, 12, 1, 8))


async def test_frequency_trips_expand_to_one_instance_per_headway(pool: asyncpg.Pool, shared_data: Path) -> None:
    await import_gtfs(pool, shared_data / "bullrunner" / "bullrunner-gtfs.zip")
    index = await load_schedule(pool)
    assert index is not None
    ny = ZoneInfo("America/New_York")
    t0 = dt.datetime(2017, 9, 13, 10, 0, tzinfo=ny).timestamp()  # a Wednesday
    trip = index.find_trip("1")
    assert trip is not None and index.is_frequency_trip(trip)
    starts = sorted(i.start_ts for i in instances_between(index, t0, t0 + 3600, [trip]))
    gaps = {b - a for a, b in itertools.pairwise(starts)}
    assert gaps == {600.0}
    ids = {i.entity_id(index) for i in instances_between(index, t0, t0 + 3600, [trip])}
    assert len(ids) == len(starts)  # each instance has its own stable id (start time in it)
