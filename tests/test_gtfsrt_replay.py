"""The GTFS-Realtime feeds over replays of real AVL through the real tracker: WMATA (routes 5A and
3T, three buses) and the Capital Metro day (every bus in Austin, 32,000 fixes).  Every feed is
decoded with gtfs-realtime-bindings and checked against the validator's rules, consecutive
feeds against each other (E017, E018), and each fetch against the clock (W008)."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest

from feeds.gps.replay import load_avl
from feeds.gtfs import import_gtfs
from tests.support.api_city import tracker_replay
from tests.support.gtfsrt_rules import check_feed, decode
from transit.gtfsrt import FeedPublisher
from transit.schedule.load import load_schedule
from transit.settings import Settings

WMATA = [("5A", "5A_8062.csv"), ("5A", "AvlReports_4-22-16_8087.csv"), ("3T", "3T_3757.csv")]


def _publisher(tracking: Any) -> FeedPublisher:
    return FeedPublisher(stale_s=tracking.prediction_stale_s, vehicle_stale_s=tracking.vehicle_stale_s)


def _run(index: Any, fixes: list[Any], step_s: float, check_every: int, until_s: float) -> collections.Counter[str]:
    tracking = Settings().tracking
    pub = _publisher(tracking)
    stats: collections.Counter[str] = collections.Counter()
    previous = None
    ids: dict[tuple[str, str, str], set[str]] = collections.defaultdict(set)
    problems: list[tuple[str, str]] = []
    last_fix = max(f.ts for f in fixes)
    for step, (now, snap) in enumerate(tracker_replay(index, fixes, step_s, tracking, until_s)):
        if step % check_every and now <= last_fix:
            continue
        trips = decode(pub.get_trip_updates(snap, index, now).body)
        vehicles = decode(pub.get_vehicle_positions(snap, index, now).body)
        problems += check_feed(trips, index, now, previous) + check_feed(vehicles, index, now)
        previous = trips
        stats["feeds"] += 1
        stats["trips"] += len(trips.entity)
        stats["vehicles"] += len(vehicles.entity)
        for e in trips.entity:
            td = e.trip_update.trip
            ids[(td.start_date, td.trip_id, td.start_time)].add(e.id)
            for u in e.trip_update.stop_time_update:
                stats["predicted_calls"] += u.HasField("arrival")
        if now > last_fix + tracking.vehicle_stale_s:
            stats["after_silence_trips"] += len(trips.entity)
            stats["after_silence_vehicles"] += len(vehicles.entity)
    assert problems == [], problems[:20]
    assert all(len(v) == 1 for v in ids.values())  # one entity id per trip instance, for its whole life
    stats["trip_instances"] = len(ids)
    return stats


@pytest.mark.parametrize(("route", "avl"), WMATA)
async def test_wmata_replay(pool, shared_data: Path, route: str, avl: str) -> None:  # type: ignore[no-untyped-def]
    await import_gtfs(pool, shared_data / "wmata" / "gtfs" / route)
    index = await load_schedule(pool)
    fixes = load_avl(shared_data / "wmata" / "avl" / avl, timezone="America/New_York").fixes
    stats = _run(index, fixes, step_s=10.0, check_every=1, until_s=400.0)
    assert stats["feeds"] > 100 and stats["trips"] > 50 and stats["predicted_calls"] > 500, stats
    assert stats["after_silence_trips"] == 0 and stats["after_silence_vehicles"] == 0  # no ghost buses


async def test_capmetro_day_replay(pool, capmetro_gtfs: Path, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    await import_gtfs(pool, capmetro_gtfs)
    index = await load_schedule(pool)
    fixes = load_avl(shared_data / "capmetro" / "2016-11-25.csv").fixes
    stats = _run(index, fixes, step_s=30.0, check_every=20, until_s=400.0)
    print(f"\nCapital Metro day: {dict(stats)}")
    assert stats["feeds"] > 100 and stats["trip_instances"] > 1000 and stats["predicted_calls"] > 100_000, stats
    assert stats["after_silence_trips"] == 0 and stats["after_silence_vehicles"] == 0
