"""The cases agencies' systems get wrong, on the tiny two-route feed (tests/support/feeds.py):
layover at the first stop, loops, stops visited twice, delay carried across a block, ghost and
stale vehicles, off-route and stuck buses, flapping countdowns, references the schedule does not
know.  The tracker is pure, so these drive it directly with hand-made fixes and a chosen ``now``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from feeds.gtfs import import_gtfs
from tests.support.feeds import tiny_feed
from transit.api.arrivals_json import arrivals_payload
from transit.api.timefmt import iso
from transit.core.fix import Fix
from transit.core.snapshot import VehicleStatus
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule
from transit.settings import load_settings
from transit.tracking.tracker import BatchResult, Tracker, TrackerParams

DAY = dt.date(2026, 3, 2)  # a Monday: service WK runs
A = (36.7000, 117.5000)
B = (36.7000, 117.5100)
C = (36.7000, 117.5200)
D = (36.7090, 117.5100)

OUTBACK = {
    "trips.txt": "R1,WK,OUTBACK,甲站,0,,\n",
    "stop_times.txt": "OUTBACK,10:00:00,10:00:00,A,1\n"
    "OUTBACK,10:05:00,10:05:00,B,2\n"
    "OUTBACK,10:10:00,10:11:00,C,3\n"
    "OUTBACK,10:16:00,10:16:00,B,4\n"
    "OUTBACK,10:21:00,10:21:00,A,5\n",
}


async def _network(pool, folder: Path, append: dict[str, str]) -> ScheduleIndex:
    await import_gtfs(pool, tiny_feed(folder, append=append))
    index = await load_schedule(pool)
    assert index is not None
    return index


@pytest.fixture
async def tiny(pool, tmp_path: Path) -> ScheduleIndex:
    return await _network(pool, tmp_path / "gtfs", OUTBACK)


def at(index: ScheduleIndex, hhmmss: str) -> float:
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return index.day_start(DAY) + h * 3600 + m * 60 + s


def drive(
    index: ScheduleIndex, vehicle: str, legs: Sequence[tuple[str, tuple[float, float]]], every_s: float = 20.0,
    **fields: str | None,
) -> list[Fix]:
    """Fixes every ``every_s`` along straight lines through (time, place) waypoints."""
    times = [at(index, t) for t, _ in legs]
    out = []
    t = times[0]
    while t <= times[-1] + 1e-6:
        k = max(0, min(len(times) - 2, int(np.searchsorted(times, t, side="right")) - 1))
        t0, t1 = times[k], times[k + 1]
        f = 0.0 if t1 == t0 else min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        (la0, lo0), (la1, lo1) = legs[k][1], legs[k + 1][1]
        out.append(Fix(vehicle, t, la0 + f * (la1 - la0), lo0 + f * (lo1 - lo0), **fields))  # type: ignore[arg-type]
        t += every_s
    return out


def run(tracker: Tracker, fixes: Sequence[Fix], batch_s: float = 1.0) -> list[BatchResult]:
    results = []
    ordered = sorted(fixes, key=lambda f: f.ts)
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].ts < ordered[i].ts + batch_s:
            j += 1
        results.append(tracker.apply(ordered[i:j], ordered[j - 1].ts))
        i = j
    return results


def events_of(results: Sequence[BatchResult]) -> list:
    return [e for r in results for e in r.events]


# ---------------------------------------------------------------------- layover
async def test_bus_waiting_at_first_stop_is_on_layover_and_departs_on_schedule(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    fixes = drive(tiny, "bus1", [("07:50:00", A), ("07:58:00", A)], route_id="R1")
    run(tracker, fixes)
    snap = tracker.snapshot(1, at(tiny, "07:58:00"))
    vehicle = snap.vehicles["bus1"]
    assert vehicle.trip_id == "T1" and vehicle.assignment == "layover"
    assert vehicle.status == VehicleStatus.STOPPED_AT and vehicle.stop_id == "A"
    trip = snap.trips[vehicle.trip_entity_id]
    first = trip.calls[0]
    assert first.stop_id == "A" and first.departure_ts == at(tiny, "08:00:00")
    # the bus leaves at 08:00: the next stops are predicted from the departure, not from now
    assert trip.calls[1].stop_id == "B" and trip.calls[1].arrival_ts >= at(tiny, "08:03:00")
    # waiting for its time it is on time, not 8 minutes early; a rider at A sees when it leaves
    assert trip.delay_s == 0.0 and vehicle.delay_s == 0.0
    rows = arrivals_payload(snap, tiny, "A", at(tiny, "07:58:00"))["arrivals"]
    row = next(a for a in rows if a["trip_id"] == "T1")
    leaves = iso(at(tiny, "08:00:00"), tiny.tz)
    assert row["at_stop"] and row["schedule_deviation_s"] == 0
    assert row["departure"] == row["predicted_departure"] == row["scheduled_departure"] == leaves
    later = drive(tiny, "bus1", [("07:58:20", A), ("08:00:00", A), ("08:05:00", B)], route_id="R1")
    events = events_of(run(tracker, later))
    departure = next(e for e in events if e.stop_sequence == 1)
    assert departure.method == "first_stop" and math.isnan(departure.arrival_ts)
    assert abs(departure.departure_ts - at(tiny, "08:00:00")) < 25
    assert tracker.vehicles["bus1"].how == "inferred"


# ---------------------------------------------------------------------- timetables without times between stops
# B has A's time: the timetable gives the bus no time between them (whole-minute timetables do
# this to stops close together; Capital Metro's route 37 copies a timepoint's time to the eleven
# stops after it).  B is halfway from A to C.
FLAT = {
    "trips.txt": "R1,WK,FLAT,丙站,0,,\n",
    "stop_times.txt": "FLAT,11:00:00,11:00:00,A,1\nFLAT,11:00:00,11:00:00,B,2\nFLAT,11:10:00,11:10:00,C,3\n",
}


@pytest.fixture
async def flat(pool, tmp_path: Path) -> ScheduleIndex:
    return await _network(pool, tmp_path / "gtfs", FLAT)


async def test_stops_the_timetable_gives_one_time_are_detected_when_the_bus_passes_them(
    flat: ScheduleIndex, pool
) -> None:
    from transit.prediction.model import ModelParams, SegmentModel
    from transit.tracking import store
    from transit.tracking.network import TrackingNetwork

    net = TrackingNetwork(flat)
    rows = np.arange(len(flat.st_arr_s))[flat.trip_calls(flat.find_trip("FLAT"))]
    # the running clock spreads B between A and C by distance; riders still see the timetable
    assert net.row_clock_arr_s[rows] - flat.st_arr_s[rows][0] == pytest.approx([0.0, 300.0, 600.0], abs=5.0)
    assert list(flat.st_arr_s[rows]) == [39600, 39600, 40200]
    assert net.row_link_s[rows][1:] == pytest.approx([300.0, 300.0], abs=5.0)
    # fixes four minutes apart (11:00, 11:04, 11:08, 11:12) on a bus running at an even speed:
    # B is passed at 11:05 between the fixes at 11:04 and 11:08
    tracker = Tracker(flat)
    events = events_of(run(tracker, drive(flat, "f", [("11:00:00", A), ("11:10:00", C), ("11:12:00", C)],
                                          every_s=240.0, trip_id="FLAT")))
    by_seq = {e.stop_sequence: e for e in events}
    assert by_seq[2].method == "interpolated"
    # shared out by the timetable's own clock, B came at the fix before it (11:04), 60 s early
    assert abs(by_seq[2].arrival_ts - at(flat, "11:05:00")) < 30
    # history read back from PostgreSQL measures the link against the same clock as online
    # learning: about 300 s to B, as observed (against the timetable's 0 s it would read as a
    # link eleven times its schedule)
    await store.write_arrivals(pool, events)
    model = SegmentModel(net, ModelParams(k_cell=0.1, k_segment=0.1, k_global=1e6))
    await store.load_history(pool, model, flat.timezone, 30, DAY + dt.timedelta(days=1))
    run_s = by_seq[2].arrival_ts - by_seq[1].departure_ts
    expected = model.expected_links(rows[1:2], np.array([0]), at(flat, "11:00:00") + 86400).mean_s[0]
    assert expected == pytest.approx(run_s, abs=15.0)


# ---------------------------------------------------------------------- loops and repeated stops
async def test_loop_matches_the_second_visit_of_its_first_stop_to_the_last_stop_sequence(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    fixes = drive(tiny, "loop", [("08:58:00", A), ("09:00:00", A), ("09:05:00", B), ("09:10:00", D),
                                 ("09:15:00", A), ("09:17:00", A)], trip_id="LOOP")
    results = run(tracker, fixes)
    events = events_of(results)
    seqs = [e.stop_sequence for e in events]
    assert seqs == [1, 2, 3, 4]
    by_seq = {e.stop_sequence: e for e in events}
    assert abs(by_seq[2].arrival_ts - at(tiny, "09:05:00")) < 30
    assert abs(by_seq[3].arrival_ts - at(tiny, "09:10:00")) < 30
    assert abs(by_seq[4].arrival_ts - at(tiny, "09:15:00")) < 30
    # while still at A before leaving, the trip's predictions start at seq 1, not at the end
    waiting = next(r for r in results if r.predictions is not None).predictions
    assert waiting is not None
    assert int(tiny.st_seq[waiting.row[0]]) == 1


async def test_out_and_back_trip_visits_b_twice_in_order(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    fixes = drive(tiny, "ob", [("10:00:00", A), ("10:05:00", B), ("10:10:00", C), ("10:11:00", C),
                               ("10:16:00", B), ("10:21:00", A)], trip_id="OUTBACK")
    events = events_of(run(tracker, fixes))
    assert [e.stop_sequence for e in events] == [1, 2, 3, 4, 5]
    b_visits = [e for e in events if e.stop_id == "B"]
    assert [e.stop_sequence for e in b_visits] == [2, 4]
    assert abs(b_visits[0].arrival_ts - at(tiny, "10:05:00")) < 30
    assert abs(b_visits[1].arrival_ts - at(tiny, "10:16:00")) < 30


async def test_out_and_back_trip_is_inferred_from_its_line_with_the_right_visit(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    fixes = drive(tiny, "ob", [("10:06:00", (36.7, 117.513)), ("10:10:00", C), ("10:11:00", C),
                               ("10:16:00", B), ("10:19:00", (36.7, 117.504))], route_id="R1")
    events = events_of(run(tracker, fixes))
    assert {e.trip_id for e in events} == {"OUTBACK"}
    b = [e for e in events if e.stop_id == "B"]
    assert [e.stop_sequence for e in b] == [4]  # on the way back: the second visit


# ---------------------------------------------------------------------- blocks and layovers
async def test_block_carries_delay_into_the_next_trip_after_minimum_layover(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny, TrackerParams(min_layover_s=120.0))
    # T1 runs 9 minutes late: C at 08:19 instead of 08:10
    fixes = drive(tiny, "blk", [("08:09:00", A), ("08:14:00", B), ("08:19:00", C), ("08:19:30", C)],
                  block_id="BLK1")
    run(tracker, fixes)
    snap = tracker.snapshot(1, at(tiny, "08:19:30"))
    vehicle = snap.vehicles["blk"]
    assert vehicle.trip_id == "T2" and vehicle.assignment == "block"
    t2 = snap.trips[vehicle.trip_entity_id]
    assert t2.calls[0].stop_id == "C"
    # departure = max(scheduled 08:20, arrival 08:19 + 2 min layover) = 08:21
    assert abs(t2.calls[0].departure_ts - at(tiny, "08:21:00")) < 20
    assert t2.calls[-1].stop_id == "A" and t2.calls[-1].arrival_ts > at(tiny, "08:30:00")
    assert "T1" not in {t.trip_id for t in snap.trips.values()}  # the ended trip left the snapshot


async def test_following_trip_of_the_block_is_predicted_while_the_first_runs(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny, TrackerParams(min_layover_s=120.0))
    fixes = drive(tiny, "blk", [("08:00:00", A), ("08:04:00", (36.7, 117.508))], block_id="BLK1")
    run(tracker, fixes)
    snap = tracker.snapshot(1, at(tiny, "08:04:00"))
    trips = {t.trip_id: t for t in snap.trips.values()}
    assert set(trips) == {"T1", "T2"}
    assert not trips["T2"].schedule_based and trips["T2"].vehicle_id == "blk"
    # on time: T2 leaves C at its scheduled 08:20 (the layover absorbs nothing)
    assert trips["T2"].calls[0].departure_ts == at(tiny, "08:20:00")
    at_b = snap.calls_at("B")
    assert [c.trip.trip_id for c in at_b] == ["T1", "T2"]  # by arrival: out first, back later
    assert at_b[0].arrival_ts < at_b[1].arrival_ts


# ---------------------------------------------------------------------- ghosts and stale vehicles
async def test_silent_vehicle_and_its_trip_leave_the_snapshot(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny, TrackerParams(vehicle_stale_s=300.0))
    run(tracker, drive(tiny, "ghost", [("08:00:00", A), ("08:03:00", (36.7, 117.505))], trip_id="T1"))
    assert "ghost" in tracker.snapshot(1, at(tiny, "08:03:00")).vehicles
    tracker.apply([], at(tiny, "08:07:59"))
    assert "ghost" in tracker.snapshot(2, at(tiny, "08:07:59")).vehicles
    result = tracker.apply([], at(tiny, "08:08:01"))
    snap = tracker.snapshot(3, at(tiny, "08:08:01"))
    assert result.removed == ["ghost"]
    assert "ghost" not in snap.vehicles and not snap.trips and not snap.calls_at("C")


async def test_trip_that_ended_leaves_the_snapshot_but_the_bus_stays(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    run(tracker, drive(tiny, "end", [("08:00:00", A), ("08:05:00", B), ("08:10:00", C), ("08:12:00", C)],
                       trip_id="T1"))
    snap = tracker.snapshot(1, at(tiny, "08:12:00"))
    assert "end" in snap.vehicles and snap.vehicles["end"].status == VehicleStatus.STOPPED_AT
    assert not snap.trips


async def test_overdue_bus_pushes_its_predictions_back_without_new_fixes(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    run(tracker, drive(tiny, "slow", [("08:00:00", A), ("08:02:00", (36.7, 117.503))], trip_id="T1"))
    first = tracker.snapshot(1, at(tiny, "08:02:00")).trips
    b_before = next(c for c in next(t for t in first.values() if t.trip_id == "T1").calls if c.stop_id == "B").arrival_ts
    tracker.apply([], b_before + 90.0)  # radio silence; the bus has not reached B
    later = tracker.snapshot(2, b_before + 90.0).trips
    b_after = next(c for c in next(t for t in later.values() if t.trip_id == "T1").calls if c.stop_id == "B").arrival_ts
    assert b_after >= b_before + 90.0 - 1e-6


async def test_a_late_bus_that_keeps_reporting_is_predicted_again_at_its_fixes(tiny: ScheduleIndex) -> None:
    # stuck 35 m short of B (outside its stop zone), reporting every 10 s; predictions otherwise
    # kept between fixes for a minute, so only being late for B can make them move
    tracker = Tracker(tiny, TrackerParams(predict_interval_s=60.0))
    near_b = (36.7, 117.5100 - 0.000392)
    fixes = drive(tiny, "stuck", [("08:00:00", A), ("08:04:00", near_b), ("08:07:00", near_b)], every_s=10.0,
                  trip_id="T1")
    worst = 0.0
    for f in fixes:
        tracker.apply([f], f.ts)
        trip = next(t for t in tracker.snapshot(int(f.ts), f.ts).trips.values() if t.trip_id == "T1")
        b = next(c for c in trip.calls if c.stop_id == "B")
        if f.ts > at(tiny, "08:04:00"):
            worst = max(worst, f.ts - b.arrival_ts)
    # never shown more than the overdue margin plus one report interval in the past
    assert worst <= 20.0 + 1e-6


# ---------------------------------------------------------------------- off route, stuck, unknown ids
async def test_detour_is_flagged_off_route_and_tracking_resumes_after_it(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    off = (36.7060, 117.5060)  # ~670 m north of the A-B street
    fixes = drive(tiny, "det", [("08:00:00", A), ("08:02:00", (36.7, 117.504)), ("08:04:00", off),
                                ("08:06:00", (36.7, 117.514)), ("08:10:00", C)], every_s=30.0, trip_id="T1")
    seen_off = False
    for f in sorted(fixes, key=lambda f: f.ts):
        tracker.apply([f], f.ts)
        state = tracker.snapshot(1 + int(f.ts), f.ts).vehicles["det"]
        seen_off |= state.off_route
    assert seen_off
    final = tracker.snapshot(10**9, at(tiny, "08:10:00")).vehicles["det"]
    assert not final.off_route and final.trip_id == "T1"
    assert tracker.counters["off_route"] >= 1


async def test_bus_on_a_parallel_street_is_off_route_but_its_progress_and_predictions_follow_it(
    tiny: ScheduleIndex,
) -> None:
    """A detour one street over (about 450 m north of the A-B-C road) is flagged off route, yet
    the bus's progress follows where it projects onto its trip: B is recorded when the bus goes
    past it (not as a stop it stood at), not when it is back on route, and C is predicted from where the bus is, not from
    where it left the road (which pushed C back by the whole time it spent on the detour)."""
    tracker = Tracker(tiny)
    north = 36.7040
    fixes = drive(tiny, "par", [("08:00:00", A), ("08:01:00", (north, 117.5025)), ("08:09:00", (north, 117.5175)),
                                ("08:10:00", C)], every_s=30.0, trip_id="T1")
    predicted_c: dict[str, float] = {}
    events = []
    for f in sorted(fixes, key=lambda f: f.ts):
        result = tracker.apply([f], f.ts)
        events.extend(result.events)
        snap = tracker.snapshot(1 + int(f.ts), f.ts)
        if 480 <= f.ts - at(tiny, "08:00:00") <= 510:
            assert snap.vehicles["par"].off_route
            trip = next(t for t in snap.trips.values() if t.trip_id == "T1")
            predicted_c[str(f.ts)] = next(c.arrival_ts for c in trip.calls if c.stop_id == "C")
    assert predicted_c, "no fix on the detour near its end"
    # on the detour at 08:08, about 2 minutes from C at the speed it runs
    assert all(abs(ts - at(tiny, "08:10:00")) < 60.0 for ts in predicted_c.values()), predicted_c
    at_b = [e for e in events if e.stop_id == "B"]
    assert len(at_b) == 1 and abs(at_b[0].arrival_ts - at(tiny, "08:05:00")) < 45.0
    # the 08:05 fix projects onto B, 450 m away: passed between fixes, never seen standing there
    assert at_b[0].method == "interpolated"


async def test_following_off_route_is_a_setting(tiny: ScheduleIndex) -> None:
    """``TRANSIT_TRACKING_OFF_ROUTE_FOLLOW_M=0`` holds a bus off route where it left the route."""
    followed = Tracker(tiny, TrackerParams.from_settings(load_settings(environ={}).tracking))
    held = Tracker(tiny, TrackerParams.from_settings(
        load_settings(environ={"TRANSIT_TRACKING_OFF_ROUTE_FOLLOW_M": "0"}).tracking))
    fixes = drive(tiny, "par", [("08:00:00", A), ("08:01:00", (36.7040, 117.5025)), ("08:09:00", (36.7040, 117.5175))],
                  every_s=30.0, trip_id="T1")
    run(followed, fixes)
    run(held, fixes)
    assert followed.vehicles["par"].off_route and held.vehicles["par"].off_route
    assert followed.vehicles["par"].dist_m > 1500.0  # the 08:09 fix projects about 1,560 m along A-B-C
    assert held.vehicles["par"].dist_m < 300.0


async def test_bus_standing_still_mid_route_is_flagged_no_progress(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny, TrackerParams(no_progress_s=600.0))
    mid = (36.7, 117.5150)
    run(tracker, drive(tiny, "stuck", [("08:00:00", A), ("08:06:00", mid), ("08:18:00", mid)], every_s=30.0,
                       trip_id="T1"))
    state = tracker.snapshot(1, at(tiny, "08:18:00")).vehicles["stuck"]
    assert state.no_progress and state.trip_id == "T1"
    # a bus standing at its first stop waiting to leave is not stuck
    waiting = Tracker(tiny, TrackerParams(no_progress_s=600.0))
    run(waiting, drive(tiny, "wait", [("09:40:00", A), ("09:59:00", A)], every_s=30.0, trip_id="OUTBACK"))
    assert not waiting.snapshot(1, at(tiny, "09:59:00")).vehicles["wait"].no_progress


async def test_unknown_trip_id_is_counted_and_the_trip_inferred_from_the_line(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    run(tracker, drive(tiny, "odd", [("08:00:00", A), ("08:05:00", B), ("08:07:00", (36.7, 117.514))],
                       trip_id="NO-SUCH-TRIP", route_id="R1"))
    assert tracker.counters["unknown_trip"] == 1
    assert tracker.vehicles["odd"].how in ("inferred", "layover")
    assert tiny.trip_ids[tracker.vehicles["odd"].trip] == "T1"


async def test_out_of_order_and_backlog_fixes_are_ignored_by_tracking(tiny: ScheduleIndex) -> None:
    tracker = Tracker(tiny)
    fixes = drive(tiny, "ooo", [("08:00:00", A), ("08:05:00", B)], trip_id="T1")
    run(tracker, fixes)
    before = tracker.vehicles["ooo"].dist_m
    late = Fix("ooo", at(tiny, "08:01:00"), *A, trip_id="T1")
    backlog = Fix("ooo", at(tiny, "08:06:00"), *A, trip_id="T1", live=False)
    result = tracker.apply([late, backlog], at(tiny, "08:06:00"))
    assert result.applied == 0 and tracker.vehicles["ooo"].dist_m == before
    assert tracker.counters["out_of_order"] >= 1 and tracker.counters["not_live"] >= 1


# ---------------------------------------------------------------------- anti-flapping
def _reversals(series: list[float]) -> int:
    steps = [b - a for a, b in itertools.pairwise(series) if b != a]
    return sum(1 for a, b in itertools.pairwise(steps) if (a > 0) != (b > 0))


async def test_predictions_do_not_flap_between_consecutive_fixes(tiny: ScheduleIndex) -> None:
    """A bus in stop-and-go traffic: between fixes 10 s apart it alternately moves 60 m and
    stands still.  Undamped, the predicted arrival at C goes later (it stood: time passed) and
    earlier (it moved) at every fix -- the 5, 4, 5, 4 minutes countdown.  Damped, it must not go
    back and forth (and the undamped run shows the test can fail)."""

    def series(params: TrackerParams) -> list[float]:
        tracker = Tracker(tiny, params)
        run(tracker, drive(tiny, "j", [("08:00:00", A), ("08:02:00", (36.7, 117.503))], trip_id="T1"))
        out = []
        base = at(tiny, "08:02:00")
        lon = 117.503
        for k in range(1, 30):
            if k % 2:
                lon += 0.00067  # about 60 m east
            ts = base + 10.0 * k
            tracker.apply([Fix("j", ts, 36.7, lon, trip_id="T1")], ts)
            trip = next(t for t in tracker.snapshot(k, ts).trips.values() if t.trip_id == "T1")
            out.append(next(c.arrival_ts for c in trip.calls if c.stop_id == "C"))
        return out

    from transit.prediction.smoothing import SmoothParams

    # every fix re-predicted (no cadence), so that only the damping differs
    raw = series(TrackerParams(predict_interval_s=0.0,
                               smooth=SmoothParams(deadband_s=0.0, deadband_share=0.0, reversal_factor=1.0)))
    damped = series(TrackerParams(predict_interval_s=0.0))
    assert _reversals(raw) >= 10
    assert _reversals(damped) <= 1
