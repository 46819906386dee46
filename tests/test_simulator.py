"""The bus simulator: deterministic, on the shapes within the noise, truth consistent with the
driving, delays carried across blocks, and any GTFS (not just the demo network)."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from feeds.gtfs.memory import read_index
from transit.core.fix import Fix
from transit.demo.duties import Duty, build_duties
from transit.demo.feed import NETWORK_DIR
from transit.demo.motion import DrivingModel
from transit.demo.simulator import Simulator, TrueCall
from transit.schedule.geometry import project_on_polyline
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import parse_gtfs_time

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
TUESDAY = dt.date(2026, 3, 10)


def at(day: dt.date, hh: int, mm: int = 0, tz: zoneinfo.ZoneInfo = TZ) -> float:
    return dt.datetime.combine(day, dt.time(hh, mm), tz).timestamp()


@pytest.fixture(scope="module")
def index() -> ScheduleIndex:
    return read_index(NETWORK_DIR)


def shape_distance(index: ScheduleIndex, fix: Fix, after_m: float | None = None) -> tuple[float, float]:
    """Distance of a fix from its trip's shape, and its distance along the shape (the nearest
    place at or after ``after_m``, so loops and repeated streets are followed in order)."""
    trip = index.trip_pos[fix.trip_id]  # type: ignore[index]
    sl = index.shape_points(int(index.trip_shape[trip]))
    x, y = index.projection.to_xy(fix.lat, fix.lon)
    d, along, _ = project_on_polyline(np.array([x]), np.array([y]), index.shape_x[sl], index.shape_y[sl],
                                      index.shape_dist_m[sl])
    d, along = d[0], along[0]
    if after_m is not None:
        d = np.where((along >= after_m - 30.0) & (along <= after_m + 800.0), d, np.inf)
    k = int(np.argmin(d))
    return float(d[k]), float(along[k])


def scheduled_departure(index: ScheduleIndex, call: TrueCall) -> tuple[float, int]:
    trip = index.trip_pos[call.trip_id]
    rows = index.trip_calls(trip)
    row = rows.start + int(np.flatnonzero(index.st_seq[rows] == call.stop_sequence)[0])
    offset = parse_gtfs_time(call.start_time) - int(index.trip_first_dep_s[trip]) if call.start_time else 0
    day = dt.datetime.strptime(call.service_date, "%Y%m%d").date()
    return index.day_start(day) + float(index.st_dep_s[row]) + offset, row


def test_same_seed_and_clock_give_the_same_fixes_however_the_clock_moves(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 7, 0)
    whole = Simulator(index, seed=5, start_ts=start, assignment="mixed")
    fixes = whole.advance(start + 5400)
    stepped = Simulator(index, seed=5, start_ts=start, assignment="mixed")
    rng = np.random.default_rng(1)
    got: list[Fix] = []
    t = start
    while t < start + 5400:
        t = min(start + 5400, t + float(rng.uniform(0.3, 200.0)))
        got += stepped.advance(t)
    assert len(fixes) > 10_000
    assert got == fixes
    assert stepped.truth == whole.truth and len(whole.truth) > 500
    other = Simulator(index, seed=6, start_ts=start, assignment="mixed").advance(start + 5400)
    assert other != fixes


def test_fixes_are_in_time_order_up_to_the_clock_every_ten_seconds(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 8, 0)
    sim = Simulator(index, seed=1, start_ts=start, report_interval_s=10.0, report_jitter_s=2.0)
    first = sim.advance(start + 600)
    later = sim.advance(start + 1200)
    assert all(start <= f.ts <= start + 600 for f in first)
    assert all(start + 600 < f.ts <= start + 1200 for f in later)
    fixes = first + later
    assert [f.ts for f in fixes] == sorted(f.ts for f in fixes)
    by_vehicle: dict[str, list[float]] = defaultdict(list)
    for f in fixes:
        by_vehicle[f.vehicle_id].append(f.ts)
    gaps = np.concatenate([np.diff(ts) for ts in by_vehicle.values()])
    assert 7.0 <= gaps.min() and gaps.max() <= 13.0
    assert abs(gaps.mean() - 10.0) < 0.2
    with pytest.raises(ValueError, match="cannot go back"):
        sim.advance(start + 100)


def test_fixes_lie_on_the_shapes_within_the_gps_noise(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 9, 0)
    for noise in (0.0, 8.0):
        sim = Simulator(index, seed=2, start_ts=start, gps_noise_m=noise)
        fixes = [f for f in sim.advance(start + 1800) if f.trip_id]
        off = np.array([shape_distance(index, f)[0] for f in fixes[::7]])
        if noise == 0:
            assert off.max() < 0.5
        else:
            # the error across the road is N(0, 8 m): its size has a median of about 5.4 m
            assert 3.5 < np.median(off) < 8.0
            assert off.max() < 6 * noise
        assert all(f.speed_mps is not None and 0 <= f.speed_mps < 25 for f in fixes)
        assert all(f.bearing_deg is not None and 0 <= f.bearing_deg < 360 for f in fixes)


def test_buses_move_forward_along_their_shapes(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 10, 0)
    sim = Simulator(index, seed=3, start_ts=start, gps_noise_m=0.0)
    tracks: dict[tuple[str, str], list[float]] = defaultdict(list)
    for k in range(1, 121):
        for f in sim.advance(start + 10 * k):
            if f.trip_id:
                assert shape_distance(index, f)[0] < 1.0  # noiseless fixes are on the shape
        for v in sim.vehicles:
            if v.trip_id and v.dist_m is not None:
                tracks[(v.vehicle_id, v.trip_id)].append(v.dist_m)
    moved = 0
    for along in tracks.values():
        assert np.all(np.diff(along) >= 0.0)  # never backwards (loops and repeated streets included)
        moved += (along[-1] - along[0]) > 500
    assert moved >= 20
    assert {v.state for v in sim.vehicles} >= {"moving", "stopped"}


def test_truth_calls_are_in_stop_order_and_consistent_with_dwell_and_speed(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 6, 0)
    model = DrivingModel()
    sim = Simulator(index, seed=4, start_ts=start, model=model)
    sim.advance(start + 4 * 3600)
    calls: dict[tuple[str, str, str, str | None], list[TrueCall]] = defaultdict(list)
    for c in sim.truth:
        assert c.departure_ts <= start + 4 * 3600
        calls[(c.vehicle_id, c.trip_id, c.service_date, c.start_time)].append(c)
    assert len(calls) > 100
    for trip_calls in calls.values():
        trip_calls.sort(key=lambda c: c.stop_sequence)
        trip = index.trip_pos[trip_calls[0].trip_id]
        rows = index.trip_calls(trip)
        seqs = index.st_seq[rows].tolist()
        # a contiguous run of the trip's calls (the window may cut a trip at either end)
        k = seqs.index(trip_calls[0].stop_sequence)
        assert [c.stop_sequence for c in trip_calls] == seqs[k : k + len(trip_calls)]
        dist = {int(s): float(d) for s, d in zip(index.st_seq[rows], index.st_dist_m[rows], strict=True)}
        for a, b in itertools.pairwise(trip_calls):
            assert a.arrival_ts <= a.departure_ts <= b.arrival_ts <= b.departure_ts
            run = dist[b.stop_sequence] - dist[a.stop_sequence]
            assert run <= model.max_speed_mps * (b.arrival_ts - a.departure_ts) + 1e-6
            assert b.departure_ts - b.arrival_ts <= model.max_dwell_s + model.alight_s[1] + 3600  # holding aside
        first = trip_calls[0]
        if first.stop_sequence == seqs[0]:
            sched, _ = scheduled_departure(index, first)
            assert first.departure_ts >= sched  # never leaves the terminal early
        for c in trip_calls[1:-1]:
            sched, row = scheduled_departure(index, c)
            if index.st_timepoint[row]:
                assert c.departure_ts >= sched - model.early_tolerance_s - 1e-6


def test_the_repeated_stop_is_called_twice_in_order(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 9, 0)
    sim = Simulator(index, seed=8, start_ts=start)
    sim.advance(start + 3 * 3600)
    visits: dict[tuple[str, str], list[TrueCall]] = defaultdict(list)
    for c in sim.truth:
        if c.route_id == "2" and c.stop_id == "T05":
            visits[(c.vehicle_id, c.trip_id)].append(c)
    twice = [v for v in visits.values() if len(v) == 2]
    assert len(twice) >= 5
    for a, b in twice:
        assert a.stop_sequence < b.stop_sequence and a.departure_ts + 120 < b.arrival_ts


def test_delay_carries_across_the_block(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 6, 0)
    # slow traffic: buses fall behind and the delay carries into the next trip of the block
    slow = DrivingModel(peaks=((12.0, 100.0, 0.35),), min_layover_s=120.0)
    sim = Simulator(index, seed=9, start_ts=start, model=slow)
    sim.advance(start + 6 * 3600)
    by_vehicle: dict[str, list[TrueCall]] = defaultdict(list)
    for c in sim.truth:
        by_vehicle[c.vehicle_id].append(c)
    carried = 0
    for calls in by_vehicle.values():
        calls.sort(key=lambda c: (c.departure_ts, c.stop_sequence))
        for a, b in itertools.pairwise(calls):
            if a.trip_id == b.trip_id:
                continue
            # b is the first call of the next trip: it leaves after the layover, never before
            sched, _ = scheduled_departure(index, b)
            assert b.departure_ts >= max(sched, a.departure_ts + slow.min_layover_s) - 1e-6
            carried += b.departure_ts > sched + 120
    assert carried >= 10


@pytest.mark.parametrize("mode", ["trip", "block", "route", "none"])
def test_assignment_modes_say_what_real_sources_say(index: ScheduleIndex, mode: str) -> None:
    start = at(TUESDAY, 12, 0)
    fixes = Simulator(index, seed=1, start_ts=start, assignment=mode).advance(start + 300)
    assert fixes
    with_trip = [f for f in fixes if f.trip_id]
    if mode == "trip":
        assert len(with_trip) > 0.9 * len(fixes)
        assert all(f.route_id and f.start_date == "20260310" and f.block_id is None for f in with_trip)
        assert all(index.route_ids[index.trip_route[index.trip_pos[str(f.trip_id)]]] == f.route_id for f in with_trip)
    elif mode == "block":
        assert not with_trip and all(f.route_id is None for f in fixes)
        assert {f.block_id for f in fixes} <= set(index.block_ids) | {None}
        # only the tourist shuttle has no blocks (frequency-based): its buses report nothing
        unblocked = {f.vehicle_id for f in fixes if f.block_id is None}
        assert len({f.block_id for f in fixes}) > 20 and len(unblocked) <= 3
    elif mode == "route":
        assert not with_trip and all(f.route_id in index.route_pos for f in fixes)
        assert all(f.block_id is None for f in fixes)
    else:
        assert all(f.trip_id is None and f.route_id is None and f.block_id is None for f in fixes)


def test_mixed_and_per_vehicle_assignment(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 12, 0)
    mixed = Simulator(index, seed=1, start_ts=start, assignment="mixed")
    mixed.advance(start + 60)
    assert {v.assignment for v in mixed.vehicles} == {"trip", "block", "route", "none"}

    def by_number(vehicle_id: str, duty: Duty) -> str:
        return "route" if duty.number % 2 else "trip"

    sim = Simulator(index, seed=1, start_ts=start, assignment=by_number)
    fixes = sim.advance(start + 120)
    modes = {v.vehicle_id: v.assignment for v in sim.vehicles}
    for f in fixes:
        assert (f.trip_id is not None) == (modes[f.vehicle_id] == "trip")
    with pytest.raises(ValueError, match="assignment"):
        Simulator(index, seed=1, start_ts=start, assignment="bus")


def test_frequency_trips_run_with_their_start_times(index: ScheduleIndex) -> None:
    saturday = dt.date(2026, 3, 14)
    start = at(saturday, 9, 0)
    sim = Simulator(index, seed=1, start_ts=start)
    fixes = [f for f in sim.advance(start + 3600) if f.route_id == "Y1" and f.trip_id]
    starts = {(f.trip_id, f.start_time) for f in fixes}
    assert len(starts) >= 6 and all(s for _, s in starts)
    calls = [c for c in sim.truth if c.route_id == "Y1"]
    assert calls and all(c.start_time for c in calls)
    for c in calls:  # no instance leaves its first stop before its own start time
        sched, _ = scheduled_departure(index, c)
        if c.stop_sequence == 1:
            assert c.departure_ts >= sched


def test_a_small_fleet_covers_every_line(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 10, 0)
    sim = Simulator(index, seed=1, start_ts=start, vehicles=8, assignment="trip")
    fixes = sim.advance(start + 1800)
    assert len({f.vehicle_id for f in fixes}) <= 8
    assert {f.route_id for f in fixes if f.route_id} == set(index.route_ids)


def test_buses_pull_out_in_the_morning_and_none_run_at_night(index: ScheduleIndex) -> None:
    night = at(TUESDAY, 2, 0)
    sim = Simulator(index, seed=1, start_ts=night)
    assert sim.advance(at(TUESDAY, 5, 0)) == []
    morning = sim.advance(at(TUESDAY, 6, 30))
    assert morning and min(f.ts for f in morning) >= at(TUESDAY, 5, 30)
    sim.advance(at(TUESDAY, 23, 30))
    assert sim.vehicles == []
    assert sim.advance(at(TUESDAY, 23, 59)) == []


def test_runs_across_midnight_into_the_next_service_day(index: ScheduleIndex) -> None:
    start = at(TUESDAY, 21, 0)
    sim = Simulator(index, seed=1, start_ts=start, assignment="trip")
    fixes = sim.advance(at(TUESDAY + dt.timedelta(days=1), 7, 0))
    dates = {f.start_date for f in fixes if f.start_date}
    assert dates == {"20260310", "20260311"}
    # the same block is driven by the same vehicle on both days
    blocks: dict[str, set[str]] = defaultdict(set)
    for v in Simulator(index, seed=1, start_ts=at(TUESDAY, 10, 0)).vehicles:
        blocks[v.block_id or ""].add(v.vehicle_id)
    for v in sim.vehicles:
        if v.block_id in blocks:
            assert blocks[v.block_id] == {v.vehicle_id}


def test_duties_chain_unblocked_trips_at_their_terminals(index: ScheduleIndex) -> None:
    duties = build_duties(index, dt.date(2026, 3, 14), min_layover_s=60.0)
    y1 = [d for d in duties if d.block_id is None]
    assert y1 and all(index.route_ids[index.trip_route[r.trip]] == "Y1" for d in y1 for r in d.runs)
    assert max(len(d.runs) for d in y1) >= 10  # a shuttle runs back and forth all day
    for d in y1:
        for a, b in zip(d.runs, d.runs[1:], strict=False):
            assert b.start_ts >= a.end_ts + 60.0
            assert index.trip_direction[a.trip] != index.trip_direction[b.trip]
    blocked = [d for d in duties if d.block_id]
    assert {d.block_id for d in blocked} == {index.block_ids[b] for b in set(
        index.trip_block[index.trips_running_on(dt.date(2026, 3, 14)) & (index.trip_block >= 0)].tolist())}


def _on_other_feed(index: ScheduleIndex, day: dt.date, hour: int, tz: str, mode: str) -> list[Fix]:
    zone = zoneinfo.ZoneInfo(tz)
    start = at(day, hour, 0, zone)
    sim = Simulator(index, seed=3, start_ts=start, assignment=mode)
    fixes = sim.advance(start + 1800)
    assert fixes, f"no fixes on {day} {hour}:00"
    with_trip = [f for f in fixes if f.trip_id]
    if mode == "trip":
        off = np.array([shape_distance(index, f)[0] for f in with_trip[::5]])
        assert len(with_trip) > 0.8 * len(fixes) and np.median(off) < 20.0
    assert sim.truth
    return fixes


def test_works_on_the_wmata_cuts_with_their_blocks(shared_data: Path) -> None:
    for route, day in (("5A", dt.date(2016, 5, 5)), ("3T", dt.date(2016, 4, 28))):
        index = read_index(shared_data / "wmata" / "gtfs" / route)
        _on_other_feed(index, day, 11, "America/New_York", "trip")
        blocks = _on_other_feed(index, day, 11, "America/New_York", "block")
        assert {f.block_id for f in blocks} <= set(index.block_ids)


def test_works_on_bull_runner_frequency_trips(shared_data: Path) -> None:
    index = read_index(shared_data / "bullrunner" / "bullrunner-gtfs.zip")
    day = next(dt.date(2017, 9, 13) + dt.timedelta(days=k) for k in range(14)
               if index.trips_running_on(dt.date(2017, 9, 13) + dt.timedelta(days=k)).any())
    fixes = _on_other_feed(index, day, 12, index.timezone, "trip")
    assert all(f.start_time for f in fixes if f.trip_id)


def test_works_on_capital_metro(capmetro_gtfs: Path) -> None:
    index = read_index(capmetro_gtfs)
    day = dt.date(2016, 11, 25)
    fixes = _on_other_feed(index, day, 8, index.timezone, "trip")
    assert len({f.route_id for f in fixes}) > 20
