"""GTFS-Realtime feeds built from hand-made snapshots: each rule of the issue, decoded with
gtfs-realtime-bindings and checked with the validator's rules (tests/support/gtfsrt_rules.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as pb

from tests.support.api_city import TINY_DAY, build_city, call, running_snapshot, trip
from tests.support.feeds import tiny_feed
from tests.support.gtfsrt_rules import check_feed, decode
from transit.core.snapshot import CallStatus, Snapshot, VehicleState
from transit.gtfsrt import FeedPublisher, encode_trip_entities, select_trips

STU = pb.TripUpdate.StopTimeUpdate
CITY_DAY = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def city():  # type: ignore[no-untyped-def]
    return build_city(lines=12, stops_per_line=25, headway_s=600, first_s=6 * 3600, last_s=11 * 3600)


def _publisher(**kw: float) -> FeedPublisher:
    return FeedPublisher(stale_s=kw.get("stale_s", 180.0), vehicle_stale_s=kw.get("vehicle_stale_s", 300.0),
                         refresh_s=kw.get("refresh_s", 30.0))


def test_city_feed_passes_every_rule(city) -> None:  # type: ignore[no-untyped-def]
    now = city.day_start(CITY_DAY) + 8 * 3600
    snap = running_snapshot(city, now, jitter_s=45.0)  # noisy: predictions go backwards here and there
    feed = _publisher().get_trip_updates(snap, city, now)
    message = decode(feed.body)
    assert check_feed(message, city, now) == []
    assert len(message.entity) == len(snap.trips) > 100
    # every call of the snapshot is there, with both ids, and uncertainty on every time
    n_calls = sum(len(t.calls) for t in snap.trips.values())
    assert sum(len(e.trip_update.stop_time_update) for e in message.entity) == n_calls
    for e in message.entity:
        tp = snap.trips[e.id]
        assert e.trip_update.trip.trip_id == tp.trip_id
        assert e.trip_update.vehicle.id == tp.vehicle_id
        assert e.trip_update.timestamp == int(tp.last_fix_ts)
        assert e.trip_update.delay == round(tp.delay_s)


def test_times_are_made_strictly_increasing_and_departure_not_before_arrival(city) -> None:  # type: ignore[no-untyped-def]
    ds = city.day_start(CITY_DAY)
    now = ds + 6 * 3600 + 60
    calls = [call(city, "L0_0_0", k, ds, 120.0) for k in range(2, 7)]
    # seq 3 predicted before seq 2; seq 4 departs before it arrives; seq 5 equals seq 4's departure
    calls[1] = dataclasses.replace(calls[1], arrival_ts=calls[0].arrival_ts - 30, departure_ts=calls[0].arrival_ts - 10)
    calls[2] = dataclasses.replace(calls[2], departure_ts=calls[2].arrival_ts - 15)
    calls[3] = dataclasses.replace(calls[3], arrival_ts=calls[2].arrival_ts + 0.4,
                                   departure_ts=calls[2].arrival_ts + 0.4)
    tp = trip(city, "L0_0_0", CITY_DAY, calls, vehicle_id="V1", delay_s=120.0, last_fix_ts=now - 5)
    snap = Snapshot.build(1, now, city.feed_id, {}, {tp.entity_id: tp})
    message = decode(_publisher().get_trip_updates(snap, city, now).body)
    assert check_feed(message, city, now) == []
    updates = message.entity[0].trip_update.stop_time_update
    times = [(u.arrival.time, u.departure.time) for u in updates]
    flat = [x for pair in times for x in pair]
    assert all(b >= a for a, b in itertools.pairwise(flat))
    assert all(times[i + 1][0] > times[i][1] for i in range(len(times) - 1))
    # a time that was already in order is left as predicted; a late one wins over an early one
    assert times[0] == (round(calls[0].arrival_ts), round(calls[0].departure_ts))
    assert times[1][0] == times[0][1] + 1
    assert times[4] == (round(calls[4].arrival_ts), round(calls[4].departure_ts))


def test_schedule_based_cancelled_skipped_and_no_data_are_marked(city) -> None:  # type: ignore[no-untyped-def]
    ds = city.day_start(CITY_DAY)
    now = ds + 6 * 3600 + 60
    sched = trip(city, "L1_0_0", CITY_DAY, [call(city, "L1_0_0", k, ds, 0.0) for k in range(3, 8)],
                 schedule_based=True)
    cancelled = trip(city, "L2_0_0", CITY_DAY, [], canceled=True)
    skipping = trip(city, "L3_0_0", CITY_DAY, [
        call(city, "L3_0_0", 2, ds, 30.0), call(city, "L3_0_0", 3, ds, 30.0, status=CallStatus.SKIPPED),
        call(city, "L3_0_0", 4, ds, 30.0), call(city, "L3_0_0", 5, ds, 30.0, status=CallStatus.NO_DATA),
    ], vehicle_id="V3", delay_s=30.0, last_fix_ts=now - 5)
    snap = Snapshot.build(1, now, city.feed_id, {}, {t.entity_id: t for t in (sched, cancelled, skipping)})
    message = decode(_publisher().get_trip_updates(snap, city, now).body)
    assert check_feed(message, city, now) == []
    by_id = {e.id: e.trip_update for e in message.entity}

    s = by_id[sched.entity_id]  # one NO_DATA update at the next stop, no times, no "measured at"
    assert s.trip.schedule_relationship == pb.TripDescriptor.SCHEDULED
    assert [(u.stop_sequence, u.schedule_relationship) for u in s.stop_time_update] == [(3, STU.NO_DATA)]
    assert not s.stop_time_update[0].HasField("arrival") and not s.HasField("timestamp")

    c = by_id[cancelled.entity_id]
    assert c.trip.schedule_relationship == pb.TripDescriptor.CANCELED and not c.stop_time_update

    k = by_id[skipping.entity_id]
    rels = [(u.stop_sequence, u.schedule_relationship, u.HasField("arrival")) for u in k.stop_time_update]
    assert rels == [(2, STU.SCHEDULED, True), (3, STU.SKIPPED, False), (4, STU.SCHEDULED, True),
                    (5, STU.NO_DATA, False)]


def test_stale_unknown_and_mismatched_are_left_out(city) -> None:  # type: ignore[no-untyped-def]
    ds = city.day_start(CITY_DAY)
    now = ds + 6 * 3600 + 60
    fresh = trip(city, "L0_0_0", CITY_DAY, [call(city, "L0_0_0", 3, ds, 10.0)], vehicle_id="V1",
                 last_fix_ts=now - 179)
    stale = trip(city, "L1_0_0", CITY_DAY, [call(city, "L1_0_0", 3, ds, 10.0)], vehicle_id="V2",
                 last_fix_ts=now - 181)
    ghost = dataclasses.replace(fresh, entity_id="20261130:NOPE", trip_id="NOPE")
    bad_calls = trip(city, "L2_0_0", CITY_DAY, [
        call(city, "L2_0_0", 2, ds, 10.0),
        dataclasses.replace(call(city, "L2_0_0", 3, ds, 10.0), stop_id="NOWHERE"),
        dataclasses.replace(call(city, "L2_0_0", 4, ds, 10.0), stop_id="S2_9"),  # wrong stop for seq 4
        call(city, "L2_0_0", 5, ds, 10.0),
    ], vehicle_id="V3", last_fix_ts=now - 1)
    snap = Snapshot.build(1, now, city.feed_id, {}, {t.entity_id: t for t in (fresh, stale, ghost, bad_calls)})
    feed = _publisher().get_trip_updates(snap, city, now)
    message = decode(feed.body)
    assert check_feed(message, city, now) == []
    assert sorted(e.id for e in message.entity) == sorted([fresh.entity_id, bad_calls.entity_id])
    kept = next(e for e in message.entity if e.id == bad_calls.entity_id).trip_update.stop_time_update
    assert [u.stop_sequence for u in kept] == [2, 5]
    assert feed.dropped == {"stale": 1, "unknown_trip": 1, "unknown_stop": 1, "stop_sequence_mismatch": 1}


def test_header_timestamp_never_backwards_and_changes_with_content(city) -> None:  # type: ignore[no-untyped-def]
    base = city.day_start(CITY_DAY) + 7 * 3600
    pub = _publisher()
    previous = None
    seen = []
    for step in range(12):
        now = base + step * 0.4  # several snapshots per second, as the tracker publishes them
        snap = running_snapshot(city, now, version=step + 1, seed=step)
        feed = pub.get_trip_updates(snap, city, now)
        message = decode(feed.body)
        assert check_feed(message, city, now, previous) == []  # E017, E018 against the previous fetch
        assert message.header.timestamp <= now
        seen.append(message.header.timestamp)
        previous = message
    assert seen == sorted(seen) and len(set(seen)) >= 4  # at most one new feed per second


def test_feed_is_refreshed_when_the_tracker_goes_quiet(city) -> None:  # type: ignore[no-untyped-def]
    now = city.day_start(CITY_DAY) + 7 * 3600
    snap = running_snapshot(city, now, max_trips=40)
    pub = _publisher()
    first = pub.get_trip_updates(snap, city, now)
    assert pub.get_trip_updates(snap, city, now + 20) is first  # same snapshot: same bytes
    later = pub.get_trip_updates(snap, city, now + 31)
    message = decode(later.body)
    assert message.header.timestamp == int(now + 31) and check_feed(message, city, now + 64) == []
    gone = pub.get_trip_updates(snap, city, now + 300)  # every fix is now older than 180 s
    assert len(decode(gone.body).entity) == 0


def test_entity_ids_are_stable_and_unchanged_trips_reuse_their_bytes(city) -> None:  # type: ignore[no-untyped-def]
    now = city.day_start(CITY_DAY) + 8 * 3600
    snap1 = running_snapshot(city, now, max_trips=200)
    pub = _publisher()
    feed1 = pub.get_trip_updates(snap1, city, now)
    # the tracker replaces a few trips; the others are the same objects
    trips = dict(snap1.trips)
    changed = sorted(trips)[:5]
    for eid in changed:
        tp = trips[eid]
        trips[eid] = dataclasses.replace(tp, calls=tuple(dataclasses.replace(c, arrival_ts=c.arrival_ts + 30,
                                                                             departure_ts=c.departure_ts + 30)
                                                         for c in tp.calls))
    snap2 = Snapshot.build(2, now + 2, city.feed_id, snap1.vehicles, trips)
    feed2 = pub.get_trip_updates(snap2, city, now + 2)
    cold = _publisher().get_trip_updates(snap2, city, now + 2)
    assert feed2.body == cold.body  # incremental build == build from scratch
    m1, m2 = decode(feed1.body), decode(feed2.body)
    assert [e.id for e in m1.entity] == [e.id for e in m2.entity]
    differ = {e1.id for e1, e2 in zip(m1.entity, m2.entity, strict=True) if e1 != e2}
    assert differ == set(changed)
    assert pub.statistics()["trip_updates"]["entities_reused"] == len(trips) - len(changed) > 100


def test_vehicle_positions(city) -> None:  # type: ignore[no-untyped-def]
    now = city.day_start(CITY_DAY) + 8 * 3600
    snap = running_snapshot(city, now, max_trips=30)
    vehicles = dict(snap.vehicles)
    vehicles["LOST"] = VehicleState("LOST", now - 400, 36.7, 117.5)  # silent too long
    vehicles["FREE"] = VehicleState("FREE", now - 3, 36.71, 117.51, bearing_deg=-90.0)  # no trip
    snap = Snapshot.build(1, now, city.feed_id, vehicles, snap.trips)
    pub = _publisher()
    trips = decode(pub.get_trip_updates(snap, city, now).body)
    message = decode(pub.get_vehicle_positions(snap, city, now).body)
    assert check_feed(message, city, now) == []
    by_id = {e.id: e.vehicle for e in message.entity}
    assert "LOST" not in by_id and by_id["FREE"].position.bearing == 270.0
    assert not by_id["FREE"].HasField("trip")
    on_trip = {e.trip_update.vehicle.id: e.trip_update.trip.trip_id for e in trips.entity}
    for vid, vp in by_id.items():
        if vid == "FREE":
            continue
        state = snap.vehicles[vid]
        assert vp.trip.trip_id == on_trip[vid] == state.trip_id  # the two feeds agree [W003]
        assert (vp.stop_id, vp.current_stop_sequence) == (state.stop_id, state.stop_sequence)
        assert vp.timestamp == int(state.ts)


def test_select_and_encode_are_pure_and_deterministic(city) -> None:  # type: ignore[no-untyped-def]
    now = city.day_start(CITY_DAY) + 9 * 3600
    snap = running_snapshot(city, now, max_trips=50)
    sel = select_trips(snap, city, now, 180.0)
    assert encode_trip_entities(sel.trips, city, snap, now) == encode_trip_entities(sel.trips, city, snap, now)


async def test_frequency_and_loop_trips(pool, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """exact_times=0 trips are UNSCHEDULED with start_time; the loop (stop A twice) is told apart by
    stop_sequence [E009]."""
    from feeds.gtfs import import_gtfs
    from transit.schedule.load import load_schedule

    folder = tiny_feed(tmp_path / "f", append={
        "frequencies.txt": "trip_id,start_time,end_time,headway_secs,exact_times\nLOOP,09:00:00,12:00:00,900,0\n"})
    await import_gtfs(pool, folder)
    index = await load_schedule(pool)
    assert index is not None
    ds = index.day_start(TINY_DAY)
    now = ds + 9 * 3600 + 20 * 60
    # the 09:15 instance of LOOP runs 09:15-09:30; it is at B (seq 2), A comes again at seq 4
    offset = 15 * 60
    calls = [dataclasses.replace(call(index, "LOOP", k, ds + offset, 40.0)) for k in (2, 3, 4)]
    loop = trip(index, "LOOP", TINY_DAY, calls, vehicle_id="V9", delay_s=40.0, last_fix_ts=now - 3,
                start_time="09:15:00")
    idle = trip(index, "LOOP", TINY_DAY, [call(index, "LOOP", k, ds + 1800, 0.0) for k in (1, 2, 3, 4)],
                schedule_based=True, start_time="09:30:00")
    snap = Snapshot.build(1, now, index.feed_id, {}, {loop.entity_id: loop, idle.entity_id: idle})
    feed = _publisher().get_trip_updates(snap, index, now)
    message = decode(feed.body)
    assert check_feed(message, index, now) == []
    assert [e.id for e in message.entity] == ["20261127:LOOP:09:15:00"]  # no times, no schedule: left out
    tu = message.entity[0].trip_update
    assert tu.trip.schedule_relationship == pb.TripDescriptor.UNSCHEDULED and tu.trip.start_time == "09:15:00"
    assert [(u.stop_sequence, u.stop_id, u.schedule_relationship) for u in tu.stop_time_update] == [
        (2, "B", STU.UNSCHEDULED), (3, "D", STU.UNSCHEDULED), (4, "A", STU.UNSCHEDULED)]
    assert not tu.HasField("delay")  # no schedule to be late against
    assert feed.dropped == {"unscheduled_without_data": 1}


def test_the_rule_checker_catches_each_violation(city) -> None:  # type: ignore[no-untyped-def]
    """The checks above would fail on a bad feed: one broken entity per rule."""
    m = pb.FeedMessage()
    m.header.gtfs_realtime_version = "2.0"
    m.header.incrementality = pb.FeedHeader.FULL_DATASET
    m.header.timestamp = 1_800_000_000

    def entity(eid: str, trip_id: str, route_id: str, updates: list[tuple[int, str, int | None, int | None]]) -> None:
        e = m.entity.add(id=eid)
        e.trip_update.trip.trip_id = trip_id
        e.trip_update.trip.route_id = route_id
        e.trip_update.trip.start_date = "20261130"
        for seq, stop, arr, dep in updates:
            u = e.trip_update.stop_time_update.add(stop_sequence=seq, stop_id=stop)
            if arr is not None:
                u.arrival.time = arr
                u.arrival.uncertainty = 30
            if dep is not None:
                u.departure.time = dep
                u.departure.uncertainty = 30

    t0 = 1_799_999_000
    entity("20261130:NOPE", "NOPE", "L0", [(1, "S0_0", t0, t0)])  # E003
    entity("20261130:L0_0_0", "L0_0_0", "ZZ", [(2, "S0_1", t0, t0), (1, "S0_0", t0 + 9, t0 + 9)])  # E004, E002
    entity("20261130:L0_0_1", "L0_0_1", "L0", [(1, "S0_0", t0, t0 + 60), (2, "S0_1", t0 + 60, t0 + 50)])  # E022, E025
    entity("20261130:L0_0_2", "L0_0_2", "L0", [(1, "XX", t0, t0)])  # E011 (and E045)
    entity("wrong-id", "L0_0_3", "L0", [(1, "S0_0", t0, t0)])
    rules = {rule for rule, _ in check_feed(m, city, now=m.header.timestamp + 70)}
    assert rules == {"E002", "E003", "E004", "E011", "E022", "E025", "E045", "W008", "entity_id"}
    later = pb.FeedMessage()
    later.CopyFrom(m)
    del later.entity[0]
    assert {r for r, _ in check_feed(later, city, previous=m)} >= {"E017"}
    later.header.timestamp -= 1
    assert {r for r, _ in check_feed(later, city, previous=m)} >= {"E018"}
