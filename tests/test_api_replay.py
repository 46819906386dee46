"""Rider API responses against the snapshot, on networks replayed through the real tracker (WMATA
5A and the Capital Metro day): every prediction the snapshot holds for a stop is what the stop's
arrivals say, nothing real-time is shown that the snapshot does not hold, and each response
conforms to the OpenAPI document."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from feeds.gps.replay import load_avl
from feeds.gtfs import import_gtfs
from tests.support.api_city import tracker_replay
from tests.support.openapi_check import check_response
from transit.api.timefmt import iso, zone
from transit.api.web import API_STATE
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.core.snapshot import Snapshot, VehicleStatus

COMPONENTS = ["transit.app.health:setup", "transit.api.web:setup"]
ARRIVALS = "/api/v1/stops/{stop_id}/arrivals"


async def _services(pool, settings, gtfs: Path) -> Services:  # type: ignore[no-untyped-def]
    await import_gtfs(pool, gtfs)
    settings = settings.replace(**{"api.rate_limit_per_s": 1e6})
    services = Services(settings=settings, pool=pool, clock=ManualClock(0.0))
    await services.schedule.reload(pool)
    return services


async def _check_snapshot(client: Any, services: Services, snap: Snapshot, now: float, max_stops: int) -> int:
    """Compare the arrivals at up to ``max_stops`` stops of the snapshot's live trips; return how
    many predictions were checked."""
    index = services.schedule.get()
    tz = zone(index.timezone)
    stale_s = services.settings.tracking.prediction_stale_s
    live = {e: t for e, t in snap.trips.items()
            if not t.schedule_based and not t.canceled and t.last_fix_ts is not None and now - t.last_fix_ts <= stale_s}
    stops = sorted({c.stop_id for t in live.values() for c in t.calls})[:max_stops]
    checked = 0
    for stop_id in stops:
        expected = {}
        for sc in snap.calls_at(stop_id):
            t, c = sc.trip, sc.call
            v = snap.vehicles.get(t.vehicle_id) if t.vehicle_id else None
            at_stop = (v is not None and v.trip_entity_id == t.entity_id and v.status == VehicleStatus.STOPPED_AT
                       and v.stop_sequence == c.stop_sequence)
            if t.entity_id not in live or (c.departure_ts < now - 30 and not at_stop):
                continue  # a bus that left more than 30 s ago is gone; one standing here is not
            t_index = index.find_trip(t.trip_id)
            last_seq = int(index.st_seq[index.trip_calls(t_index).stop - 1])
            if c.stop_sequence == last_seq:
                continue  # a trip ending here takes no one on board: not an arrival
            expected[(t.trip_id, c.stop_sequence)] = (t, c, at_stop)
        if not expected:
            continue
        horizon = max(c.arrival_ts for _, c, _ in expected.values()) - now
        minutes = min(1440, max(1, math.ceil(horizon / 60) + 1))
        r = await client.get(f"/api/v1/stops/{stop_id}/arrivals?minutes={minutes}&limit=200")
        assert r.status == 200, await r.text()
        body = await r.json()
        check_response(ARRIVALS, 200, body)
        shown = {(a["trip_id"], a["stop_sequence"]): a for a in body["arrivals"]}
        for key, (t, c, at_stop) in expected.items():
            a = shown.get(key)
            assert a is not None, (stop_id, key)
            assert a["realtime"] is True and a["vehicle_id"] == t.vehicle_id and a["at_stop"] == at_stop
            assert a["predicted_arrival"] == a["arrival"] == iso(c.arrival_ts, tz)
            assert a["scheduled_arrival"] == iso(c.scheduled_arrival_ts, tz)
            assert a["schedule_deviation_s"] == round(t.delay_s)
            assert a["last_fix"] == iso(t.last_fix_ts, tz)
            assert a["minutes_away"] == max(0, int((c.arrival_ts - now) // 60))
            v = snap.vehicles.get(t.vehicle_id) if t.vehicle_id else None
            if v is not None and v.trip_entity_id == t.entity_id:
                assert a["stops_away"] == [x.stop_sequence for x in t.calls].index(c.stop_sequence)
            checked += 1
        for key, a in shown.items():  # nothing real-time that the snapshot does not hold
            if a["realtime"]:
                assert key in expected, (stop_id, key)
    return checked


async def test_wmata_arrivals_match_the_snapshot(aiohttp_client, pool, settings, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    services = await _services(pool, settings, shared_data / "wmata" / "gtfs" / "5A")
    client = await aiohttp_client(create_app(services, components=COMPONENTS))
    fixes = load_avl(shared_data / "wmata" / "avl" / "5A_8062.csv", timezone="America/New_York").fixes
    checked = 0
    for step, (now, snap) in enumerate(tracker_replay(services.schedule.get(), fixes, 10.0, settings.tracking)):
        services.clock.set(now)  # type: ignore[attr-defined]
        services.snapshots.publish(snap)
        await client.app[API_STATE].arrivals.wait_refreshed()  # watched stops are rebuilt in the background
        if step % 5 == 0:
            checked += await _check_snapshot(client, services, snap, now, max_stops=40)
            for vid in snap.vehicles:
                r = await client.get(f"/api/v1/vehicles/{vid}")
                check_response("/api/v1/vehicles/{vehicle_id}", 200, await r.json())
            for t in snap.trips.values():
                r = await client.get(f"/api/v1/trips/{t.trip_id}")
                trip_body = await r.json()
                check_response("/api/v1/trips/{trip_id}", 200, trip_body)
                ahead = [s["stop_sequence"] for s in trip_body["stops"] if s["predicted_arrival"]]
                assert not trip_body["realtime"] or ahead == [c.stop_sequence for c in t.calls]
    assert checked > 100


async def test_capmetro_arrivals_match_the_snapshot(aiohttp_client, pool, settings, capmetro_gtfs: Path,
                                                    shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    services = await _services(pool, settings, capmetro_gtfs)
    client = await aiohttp_client(create_app(services, components=COMPONENTS))
    fixes = load_avl(shared_data / "capmetro" / "2016-11-25.csv").fixes
    checked = 0
    for step, (now, snap) in enumerate(tracker_replay(services.schedule.get(), fixes, 30.0, settings.tracking)):
        if step % 120 == 60:  # every hour of the day
            services.clock.set(now)  # type: ignore[attr-defined]
            services.snapshots.publish(snap)
            await client.app[API_STATE].arrivals.wait_refreshed()
            checked += await _check_snapshot(client, services, snap, now, max_stops=60)
    assert checked > 300
