"""Trip assignment from block ids on real WMATA Metrobus AVL (TheTransitClock's test data): each
file gives only the vehicle's block; the tracker must find, fix by fix, the trip of that block the
bus is running, follow it to the last stop and move on to the block's next trip."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from feeds.gps.replay import load_avl
from feeds.gtfs import import_gtfs
from transit.core.fix import Fix
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.tracker import Tracker

CASES = [
    # (route cut, AVL file, block, service date, trips the bus runs in order)
    ("5A", "5A_8062.csv", "SE-08", dt.date(2016, 5, 5), ["868590120", "868588920"]),
    ("3T", "3T_3757.csv", "A-326", dt.date(2016, 4, 28), ["868448620"]),
    ("5A", "AvlReports_4-22-16_8087.csv", "SE-18", dt.date(2016, 4, 21), ["868589720", "868588420"]),
]


@pytest.mark.parametrize(("cut", "avl_file", "block", "day", "expected"), CASES)
async def test_block_id_resolves_to_the_running_trip_fix_by_fix(
    pool, shared_data: Path, cut: str, avl_file: str, block: str, day: dt.date, expected: list[str]
) -> None:
    await import_gtfs(pool, shared_data / "wmata" / "gtfs" / cut)
    index = await load_schedule(pool)
    assert index is not None
    avl = load_avl(shared_data / "wmata" / "avl" / avl_file, timezone=index.timezone)
    assert not avl.rejections and all(f.block_id == block for f in avl.fixes)
    tracker = Tracker(index)
    seen: list[str] = []
    assigned = 0
    events = []
    for fix in avl.fixes:
        result = tracker.apply([fix], fix.ts)
        events.extend(result.events)
        v = tracker.vehicles[fix.vehicle_id]
        if v.trip < 0:
            continue
        assigned += 1
        trip_id = index.trip_ids[v.trip]
        assert v.how == "block" and index.block_ids[index.trip_block[v.trip]] == block
        assert v.inst is not None and v.inst.service_date == day
        # the trip is one the schedule has running around now, on the block's service that day
        assert v.inst.start_ts - 1800 <= fix.ts <= v.inst.end_ts + 1800
        if not seen or seen[-1] != trip_id:
            seen.append(trip_id)
    print(f"\n{avl_file}: {assigned}/{len(avl.fixes)} fixes assigned; trips {seen}; {len(events)} calls detected")
    assert seen == expected
    assert assigned >= len(avl.fixes) - 2
    # calls detected on each trip in stop order, at increasing times
    for trip_id in expected:
        mine = [e for e in events if e.trip_id == trip_id]
        assert [e.stop_sequence for e in mine] == sorted({e.stop_sequence for e in mine})
        times = [e.arrival_ts if not math.isnan(e.arrival_ts) else e.departure_ts for e in mine]
        assert np.all(np.diff(times) > 0)
    assert events, "no arrivals detected"


async def test_switch_to_the_blocks_next_trip_happens_at_the_terminal(pool, shared_data: Path) -> None:
    await import_gtfs(pool, shared_data / "wmata" / "gtfs" / "5A")
    index = await load_schedule(pool)
    assert index is not None
    avl = load_avl(shared_data / "wmata" / "avl" / "5A_8062.csv", timezone=index.timezone)
    tracker = Tracker(index)
    switched_at = None
    last_stop_event = None
    state = None
    for fix in avl.fixes:
        for e in tracker.apply([fix], fix.ts).events:
            if e.trip_id == "868590120" and e.method == "last_stop":
                last_stop_event = e
        v = tracker.vehicles[fix.vehicle_id]
        if switched_at is None and v.trip >= 0 and index.trip_ids[v.trip] == "868588920":
            switched_at = fix
            state = tracker.snapshot(1, fix.ts).vehicles[fix.vehicle_id]
    assert last_stop_event is not None and switched_at is not None
    assert switched_at.ts >= last_stop_event.arrival_ts
    terminal = index.find_stop(last_stop_event.stop_id)
    from transit.schedule.geometry import haversine_m

    assert float(haversine_m(switched_at.lat, switched_at.lon, index.stop_lat[terminal], index.stop_lon[terminal])) < 300
    # at the switch the bus is on its layover: the next call is the new trip's first stop
    assert state is not None and state.trip_id == "868588920"
    assert state.stop_sequence == index.st_seq[index.trip_calls(index.find_trip("868588920")).start]


def _calls(index: ScheduleIndex, fixes: Sequence[Fix]) -> dict[tuple[str, int], ArrivalEvent]:
    tracker = Tracker(index)
    events = [e for fix in fixes for e in tracker.apply([fix], fix.ts).events]
    return {(e.trip_id, e.stop_sequence): e for e in events}


async def test_buses_seen_at_a_stop_between_sparse_fixes_are_timed_like_every_fix_times_them(
    pool, shared_data: Path
) -> None:
    """Real AVL every 30 s, thinned to one fix in 4 minutes (Capital Metro's rate), at each of the
    8 offsets: a fix that sees the bus at a stop times its arrival and departure within a dwell
    of what all the fixes show (reaching the stop at cruising speed right after the fix before
    put arrivals a minute early, and departures a minute late)."""
    arrivals: list[float] = []
    departures: list[float] = []
    for cut, files in (("5A", ["5A_8062.csv", "AvlReports_4-22-16_8087.csv"]), ("3T", ["3T_3757.csv"])):
        await import_gtfs(pool, shared_data / "wmata" / "gtfs" / cut)
        index = await load_schedule(pool)
        assert index is not None
        for name in files:
            fixes = load_avl(shared_data / "wmata" / "avl" / name, timezone=index.timezone).fixes
            every = _calls(index, fixes)
            for offset in range(8):
                for key, e in _calls(index, fixes[offset::8]).items():
                    ref = every.get(key)
                    if e.method != "at_stop" or ref is None:
                        continue
                    if not (math.isnan(e.arrival_ts) or math.isnan(ref.arrival_ts)):
                        arrivals.append(e.arrival_ts - ref.arrival_ts)
                    if not (math.isnan(e.departure_ts) or math.isnan(ref.departure_ts)):
                        departures.append(e.departure_ts - ref.departure_ts)
    arr, dep = np.array(arrivals), np.array(departures)
    print(f"\nWMATA AVL thinned to 4 min: seen at a stop, arrival {arr.mean():+.1f} s on average, MAE "
          f"{np.abs(arr).mean():.1f} s ({len(arr)}); departure {dep.mean():+.1f} s, MAE {np.abs(dep).mean():.1f} s "
          f"({len(dep)}), against the calls detected from every fix")
    assert len(arr) >= 10 and len(dep) >= 10
    assert abs(arr.mean()) < 20.0 and np.abs(arr).mean() < 30.0
    assert abs(dep.mean()) < 20.0 and np.abs(dep).mean() < 30.0
