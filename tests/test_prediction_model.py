"""The travel-time model, the predictor, calibration and damping, on the tiny feed: what each
learns from and how each changes a prediction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from feeds.gtfs import import_gtfs
from tests.support.feeds import tiny_feed
from transit.prediction.calibration import Calibrator, call_states
from transit.prediction.model import ModelParams, SegmentModel
from transit.prediction.predict import FollowingTrips, PredictParams, VehicleInput, predict_vehicles
from transit.prediction.smoothing import smooth_predictions
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule
from transit.tracking import store
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.network import TrackingNetwork

DAY = dt.date(2026, 3, 2)


@pytest.fixture
async def tiny(pool, tmp_path: Path) -> ScheduleIndex:
    await import_gtfs(pool, tiny_feed(tmp_path / "gtfs"))
    index = await load_schedule(pool)
    assert index is not None
    return index


def row_of(index: ScheduleIndex, trip_id: str, seq: int) -> int:
    rows = index.trip_calls(index.find_trip(trip_id))
    return rows.start + int(np.flatnonzero(index.st_seq[rows] == seq)[0])


def ts_of(index: ScheduleIndex, hhmm: str) -> float:
    h, m = (int(x) for x in hhmm.split(":"))
    return index.day_start(DAY) + h * 3600 + m * 60


async def test_no_history_means_the_timetable_and_a_schedule_based_label(tiny: ScheduleIndex) -> None:
    model = SegmentModel(TrackingNetwork(tiny))
    rows = np.array([row_of(tiny, "T1", 2), row_of(tiny, "T1", 3)])
    est = model.expected_links(rows, np.zeros(2, dtype=np.int64), ts_of(tiny, "08:00"))
    # T1: A dep 08:00 -> B arr 08:05 (300 s); B (a timepoint) dep 08:05:30 -> C arr 08:10 (270 s)
    assert np.allclose(est.mean_s, [300.0, 270.0])
    assert not est.learned.any()
    assert np.all(est.var_s2 > 0)


async def test_history_moves_a_link_from_the_timetable_and_shares_the_segment(tiny: ScheduleIndex) -> None:
    model = SegmentModel(TrackingNetwork(tiny))
    b_t1 = row_of(tiny, "T1", 2)  # A -> B
    now = ts_of(tiny, "08:00")
    for k in range(40):  # the A -> B link always takes 450 s instead of 300
        model.observe_links(np.array([b_t1]), np.array([0]), np.array([450.0]), np.array([now - 86400 + k]))
    est = model.expected_links(np.array([b_t1]), np.array([0]), now)
    assert est.learned[0] and 420 < est.mean_s[0] <= 455
    # LOOP's first segment is the same A -> B stop pair: it learns from T1's buses
    b_loop = row_of(tiny, "LOOP", 2)
    loop = model.expected_links(np.array([b_loop]), np.array([0]), ts_of(tiny, "09:00"))
    assert loop.learned[0] and loop.mean_s[0] > 330
    # B -> C was never seen: it keeps to the timetable, apart from the whole network's mood
    c_t1 = row_of(tiny, "T1", 3)
    other = model.expected_links(np.array([c_t1]), np.array([0]), now)
    assert not other.learned[0] and 300 <= other.mean_s[0] < 400


async def test_real_time_evidence_counts_while_fresh_then_fades(tiny: ScheduleIndex) -> None:
    params = ModelParams(recent_tau_s=900.0)
    model = SegmentModel(TrackingNetwork(tiny), params)
    row = np.array([row_of(tiny, "T1", 2)])
    now = ts_of(tiny, "08:00")
    model.observe_links(row, np.array([0]), np.array([600.0]), np.array([now]))  # a jam, just now
    fresh = model.expected_links(row, np.array([0]), now + 60).mean_s[0]
    later = model.expected_links(row, np.array([0]), now + 4 * 3600).mean_s[0]
    assert fresh > 420  # the last bus took twice the timetable: the next will be slow too
    assert later < fresh - 80  # hours later, mostly history (one slow run among pseudo-counts)


async def test_history_loads_from_stored_arrivals(tiny: ScheduleIndex, pool) -> None:
    ix = tiny
    start = ix.day_start(DAY)
    t1 = ix.find_trip("T1")

    def event(seq: int, arr: float, dep: float, method: str) -> ArrivalEvent:
        r = row_of(ix, "T1", seq)
        return ArrivalEvent("v", ix.feed_id, DAY, "T1", "", "R1", ix.stop_ids[ix.st_stop[r]], seq, arr, dep,
                            start + ix.st_arr_s[r], start + ix.st_dep_s[r], method, float(ix.st_dist_m[r]),
                            r, 0, 0)

    events = [event(1, float("nan"), start + 8 * 3600 + 30, "first_stop"),
              event(2, start + 8 * 3600 + 30 + 420, start + 8 * 3600 + 480, "at_stop"),
              event(3, start + 8 * 3600 + 480 + 300, float("nan"), "last_stop")]
    await store.write_arrivals(pool, events)
    await store.write_arrivals(pool, events)  # the same events again (a replay): stored once
    assert await pool.fetchval("SELECT count(*) FROM stop_arrivals") == 3
    model = SegmentModel(TrackingNetwork(ix), ModelParams(k_cell=0.5, k_segment=0.5))
    rows = await store.load_history(pool, model, ix.timezone, 30, DAY + dt.timedelta(days=1))
    assert rows >= 2
    est = model.expected_links(np.array([row_of(ix, "T1", 2), row_of(ix, "T1", 3)]), np.array([0, 0]),
                               start + 86400 + 8 * 3600)
    assert est.learned.all()
    assert est.mean_s[0] > 340  # A -> B took 420 s against 300 scheduled
    assert t1 is not None


async def test_uncertainty_grows_with_distance_ahead(tiny: ScheduleIndex) -> None:
    net = TrackingNetwork(tiny)
    model = SegmentModel(net)
    t = tiny.find_trip("LOOP")
    first = int(tiny.trip_st_start[t])
    v = VehicleInput(
        trip=np.array([t]), shift_ts=np.array([tiny.day_start(DAY)]), day_type=np.array([0]),
        next_row=np.array([first + 1]), dist_m=np.array([100.0]), fix_ts=np.array([ts_of(tiny, "09:01")]),
        at_stop=np.array([False]), stop_arrival_ts=np.array([np.nan]), pace=np.array([1.0]),
    )
    none = FollowingTrips(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0),
                          np.zeros(0, dtype=np.int64))
    p = predict_vehicles(net, model, v, none, ts_of(tiny, "09:01"))
    assert list(tiny.st_seq[p.row]) == [2, 3, 4]
    assert np.all(np.diff(p.arrival_ts) > 0) and np.all(np.diff(p.sigma_s) > 0)
    assert p.schedule_based.all()


def test_calibration_learns_the_pull_towards_the_timetable() -> None:
    rng = np.random.default_rng(1)
    cal = Calibrator()
    n = 20_000
    horizon = rng.uniform(900, 1700, n)
    model = 1e6 + horizon
    sched = model + rng.uniform(-600, 600, n)
    # buses recover half of their deviation from the timetable twenty minutes out
    actual = model + 0.5 * (sched - model) + rng.normal(0, 30, n)
    for part in np.array_split(np.arange(n), 40):  # scored in small batches, as the monitor does
        cal.observe(horizon[part], model[part], sched[part], actual[part], np.full(len(part), 60.0),
                    np.zeros(len(part), dtype=bool))
    h = np.array([1200.0, 1200.0])
    m = np.array([2e6, 2e6])
    s = m + np.array([-400.0, 400.0])
    out, sigma = cal.apply(h, m, s, np.array([60.0, 60.0]), np.zeros(2, dtype=bool))
    assert np.allclose(out - m, [-200.0, 200.0], atol=40)
    assert np.all(sigma < 60.0)  # errors turned out smaller than the model feared
    noise = Calibrator()
    actual2 = model + rng.normal(0, 60, n)  # the timetable says nothing
    for part in np.array_split(np.arange(n), 40):
        noise.observe(horizon[part], model[part], sched[part], actual2[part], np.full(len(part), 60.0),
                      np.zeros(len(part), dtype=bool))
    out2, _ = noise.apply(h, m, s, np.array([60.0, 60.0]), np.zeros(2, dtype=bool))
    assert np.all(np.abs(out2 - m) < 40)


def test_calibration_learns_apart_for_buses_standing_still_at_their_fix() -> None:
    """A bus seen standing (at a light, at a stop) comes later than the model says, one moving
    does not: the two are calibrated apart, and neither moves the other."""
    rng = np.random.default_rng(2)
    cal = Calibrator()
    n = 20_000
    horizon = rng.uniform(200, 340, n)
    model = 1e6 + horizon
    sched = model + rng.uniform(-100, 100, n)
    standing = rng.random(n) < 0.4
    actual = model + np.where(standing, 40.0, 0.0) + rng.normal(0, 15, n)
    state = call_states(np.zeros(n, dtype=bool), standing)
    for part in np.array_split(np.arange(n), 40):
        cal.observe(horizon[part], model[part], sched[part], actual[part], np.full(len(part), 30.0), state[part])
    h = np.array([300.0, 300.0])
    m = np.array([2e6, 2e6])
    out, _ = cal.apply(h, m, m + 50.0, np.array([30.0, 30.0]), call_states(np.zeros(2, dtype=bool),
                                                                           np.array([True, False])))
    assert out - m == pytest.approx([40.0, 0.0], abs=10.0)


def test_damping_keeps_small_changes_and_needs_twice_as_much_to_reverse() -> None:
    now = 1900.0  # 100 s to go: the dead band is its 20 s floor
    keys = np.array([1, 2, 3, 4], dtype=np.int64)
    prev = np.array([2000.0, 2000.0, 2000.0, 2000.0])
    dirs = np.array([0, 1, 1, 1], dtype=np.int8)  # calls 2-4 last moved later
    new = np.array([2010.0, 1975.0, 1950.0, 2060.0])
    out, d = smooth_predictions(keys, prev, dirs, keys, new, np.zeros(4, dtype=bool), now)
    assert out[0] == 2000.0  # 10 s: inside the dead band
    assert out[1] == 2000.0  # 25 s earlier after moving later: a reversal needs more than 40 s
    assert out[2] == 1950.0 and d[2] == -1  # 50 s earlier: evidence enough
    assert out[3] == 2060.0 and d[3] == 1
    evidence = np.ones(4, dtype=bool)  # the bus passed a stop: take the new figures
    out_e, _ = smooth_predictions(keys, prev, dirs, keys, new, evidence, now)
    assert np.array_equal(out_e, new)
    past = smooth_predictions(keys[:1], np.array([1890.0]), dirs[:1], keys[:1], np.array([1905.0]),
                              np.zeros(1, dtype=bool), now)[0]
    assert past[0] == 1905.0  # a kept value must not lie in the past
    far = smooth_predictions(keys[:1], np.array([3900.0]), dirs[:1], keys[:1], np.array([3970.0]),
                             np.zeros(1, dtype=bool), now)[0]
    assert far[0] == 3900.0  # 33 minutes out, 70 s is within 8 % of the time to go


def _at_stop(index: ScheduleIndex, trip_id: str, seq: int, arrived: str, now: str) -> VehicleInput:
    """One bus standing at call ``seq`` of ``trip_id`` since ``arrived``, seen at ``now``."""
    t = index.find_trip(trip_id)
    return VehicleInput(
        trip=np.array([t]), shift_ts=np.array([index.day_start(DAY)]), day_type=np.array([0]),
        next_row=np.array([row_of(index, trip_id, seq)]), dist_m=np.array([index.st_dist_m[row_of(index, trip_id, seq)]]),
        fix_ts=np.array([ts_of(index, now)]), at_stop=np.array([True]),
        stop_arrival_ts=np.array([ts_of(index, arrived)]), pace=np.array([1.0]))


_NO_FOLLOWING = FollowingTrips(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0),
                               np.zeros(0, dtype=np.int64))


async def test_an_early_bus_waits_at_a_timepoint_and_a_late_one_does_not(tiny: ScheduleIndex) -> None:
    # LOOP: A 09:00, B 09:05, D 09:10, A 09:15; B and D are timepoints (exact times, inside the trip)
    net = TrackingNetwork(tiny)
    assert net.row_hold[row_of(tiny, "LOOP", 2)] and not net.row_hold[row_of(tiny, "LOOP", 1)]
    model = SegmentModel(net)
    strict = PredictParams(timepoint_early_s=0.0)
    early = predict_vehicles(net, model, _at_stop(tiny, "LOOP", 2, "09:02", "09:02"), _NO_FOLLOWING,
                             ts_of(tiny, "09:02"), strict)
    # it leaves B at 09:05, not at once, and reaches D a timetable link (300 s) later
    assert early.departure_ts[0] == pytest.approx(ts_of(tiny, "09:05"))
    assert early.arrival_ts[1] == pytest.approx(ts_of(tiny, "09:10"))
    assert early.arrival_ts[2] == pytest.approx(ts_of(tiny, "09:15"))
    tolerant = predict_vehicles(net, model, _at_stop(tiny, "LOOP", 2, "09:02", "09:02"), _NO_FOLLOWING,
                                ts_of(tiny, "09:02"), PredictParams(timepoint_early_s=60.0))
    assert tolerant.arrival_ts[1] == pytest.approx(ts_of(tiny, "09:09"))  # may leave a minute early
    free = predict_vehicles(net, model, _at_stop(tiny, "LOOP", 2, "09:02", "09:02"), _NO_FOLLOWING,
                            ts_of(tiny, "09:02"), PredictParams(hold_at_timepoints=False))
    assert free.arrival_ts[1] == pytest.approx(ts_of(tiny, "09:07"))
    late = predict_vehicles(net, model, _at_stop(tiny, "LOOP", 2, "09:08", "09:08"), _NO_FOLLOWING,
                            ts_of(tiny, "09:08"), strict)
    assert late.arrival_ts[1] == pytest.approx(ts_of(tiny, "09:13"))  # late: nothing to wait for


async def test_waits_at_several_timepoints_and_across_vehicles(tiny: ScheduleIndex) -> None:
    net = TrackingNetwork(tiny)
    model = SegmentModel(net)
    # two buses in one batch: one very early on LOOP (waits at B, then again at D), one on T1
    a = _at_stop(tiny, "LOOP", 2, "08:50", "08:50")
    b = _at_stop(tiny, "T1", 2, "08:04", "08:04")
    both = VehicleInput(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in VehicleInput.__slots__))
    p = predict_vehicles(net, model, both, _NO_FOLLOWING, ts_of(tiny, "08:50"), PredictParams(timepoint_early_s=0.0))
    loop = p.arrival_ts[p.call_start[0]:p.call_start[1]]
    t1 = p.arrival_ts[p.call_start[1]:p.call_start[2]]
    assert loop[1:] == pytest.approx([ts_of(tiny, "09:10"), ts_of(tiny, "09:15")])
    assert t1[-1] == pytest.approx(ts_of(tiny, "08:05") + 30 + 270)  # leaves B at 08:05:30


async def test_a_time_marked_approximate_is_no_timepoint(pool, tmp_path: Path) -> None:
    feed = tiny_feed(tmp_path / "gtfs", replace={
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,timepoint\n"
        "LOOP,09:00:00,09:00:00,A,1,1\n"
        "LOOP,09:05:00,09:05:00,B,2,0\n"
        "LOOP,09:10:00,09:10:00,D,3,\n"
        "LOOP,09:15:00,09:15:00,A,4,1\n"})
    await import_gtfs(pool, feed)
    index = await load_schedule(pool)
    assert index is not None
    rows = index.trip_calls(index.find_trip("LOOP"))
    assert list(index.st_timepoint[rows]) == [True, False, True, True]  # empty: exact, as in GTFS
    net = TrackingNetwork(index)
    p = predict_vehicles(net, SegmentModel(net), _at_stop(index, "LOOP", 2, "09:02", "09:02"), _NO_FOLLOWING,
                         ts_of(index, "09:02"))
    assert p.arrival_ts[1] == pytest.approx(ts_of(index, "09:07"))  # nothing to wait for at B


async def test_history_counts_the_link_after_a_timepoint_from_the_time_to_leave(tiny: ScheduleIndex, pool) -> None:
    ix = tiny
    start = ix.day_start(DAY)

    def event(seq: int, arr: float, dep: float, method: str) -> ArrivalEvent:
        r = row_of(ix, "T1", seq)
        return ArrivalEvent("v", ix.feed_id, DAY, "T1", "", "R1", ix.stop_ids[ix.st_stop[r]], seq, arr, dep,
                            start + ix.st_arr_s[r], start + ix.st_dep_s[r], method, float(ix.st_dist_m[r]),
                            r, 0, 0, timepoint=seq == 2)

    # B (a timepoint, due to leave 08:05:30) reached at 08:03; C reached at 08:10:30
    await store.write_arrivals(pool, [
        event(1, float("nan"), start + 8 * 3600, "first_stop"),
        event(2, start + 8 * 3600 + 180, start + 8 * 3600 + 180, "interpolated"),
        event(3, start + 8 * 3600 + 630, float("nan"), "last_stop")])
    assert await pool.fetchval("SELECT count(*) FROM stop_arrivals WHERE timepoint") == 1
    c = np.array([row_of(ix, "T1", 3)])
    assert TrackingNetwork(ix).row_link_s[c[0]] == 270.0  # 08:05:30 -> 08:10:00
    means = []
    for hold in (0.0, None):
        model = SegmentModel(TrackingNetwork(ix), ModelParams(k_cell=0.1, k_segment=0.1, k_global=1e6))
        await store.load_history(pool, model, ix.timezone, 30, DAY + dt.timedelta(days=1), hold)
        means.append(model.expected_links(c, np.array([0]), start + 86400 + 8 * 3600).mean_s[0])
    # waiting: 08:05:30 -> 08:10:30 is 300 s; not waiting, 450 s from the arrival at B
    assert means[0] == pytest.approx(300.0, abs=10.0)
    assert means[1] == pytest.approx(450.0, abs=15.0)
