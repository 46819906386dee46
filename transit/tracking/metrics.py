"""Tracker and accuracy figures in /metrics (always on ``services.registry``).

Counters that the tracker keeps anyway (fixes, arrivals, assignments, unresolved references)
and the accuracy table are read at scrape time by one collector, so the hot path pays nothing
for them; the latency histograms are observed by the writer once per batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from transit.tracking.service import TrackerService

_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
_FIXES = (1, 10, 100, 500, 1000, 2500, 5000, 10_000, 20_000, 50_000)

#: Tracker counters exported as transit_tracker_<name>_total.
_COUNTERS = {
    "fixes": "Fixes applied by the tracker",
    "arrivals": "Arrivals and departures detected",
    "assignments": "Trip assignments made (a vehicle taking a trip instance)",
    "reassignments": "Assignments changed because another trip explained the fixes better",
    "inferences": "Trip inferences run for vehicles without a usable trip",
    "trips_ended": "Trips run to their last stop",
    "stale_removed": "Vehicles removed from the snapshot after going silent",
    "out_of_order": "Fixes older than the vehicle's newest, ignored by the tracker",
}
#: References in fixes the schedule does not know (the fix is kept and tracked by inference).
_UNRESOLVED = {"unknown_trip": "trip_id", "unknown_block": "block_id", "unknown_route": "route_id"}


class TrackerMetrics:
    def __init__(self, registry: CollectorRegistry, service: TrackerService) -> None:
        self.fix_to_snapshot = Histogram(
            "transit_tracker_fix_to_snapshot_seconds",
            "From a fix's arrival at the service to the snapshot that includes it", buckets=_LATENCY,
            registry=registry)
        self.batch_seconds = Histogram("transit_tracker_batch_seconds", "Time to apply one batch and publish",
                                       buckets=_LATENCY, registry=registry)
        self.batch_fixes = Histogram("transit_tracker_batch_fixes", "Fixes per batch", buckets=_FIXES,
                                     registry=registry)
        self.batch_errors = Counter("transit_tracker_batch_errors", "Batches the tracker failed to apply",
                                    registry=registry)
        self.storage_errors = Counter("transit_tracker_storage_errors",
                                      "Failed writes of arrivals, served trips or accuracy (retried)",
                                      registry=registry)
        registry.register(_Collector(service))


class _Collector(Collector):
    def __init__(self, service: TrackerService) -> None:
        self._service = service

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        engine = self._service.engine
        if engine is None:
            return
        tracker = engine.tracker
        stats = tracker.statistics()
        for name, text in _COUNTERS.items():
            c = CounterMetricFamily(f"transit_tracker_{name}", text)
            c.add_metric([], float(stats.get(name, 0)))
            yield c
        unresolved = CounterMetricFamily(
            "transit_tracker_unresolved_references",
            "Fixes naming a trip, block or route the schedule does not know (tracked by inference)",
            labels=["field"])
        for key, label in _UNRESOLVED.items():
            unresolved.add_metric([label], float(stats.get(key, 0)))
        yield unresolved
        vehicles = GaugeMetricFamily("transit_tracker_vehicles", "Vehicles tracked, by state", labels=["state"])
        off = sum(1 for v in tracker.vehicles.values() if v.trip >= 0 and v.off_route)
        stalled = sum(1 for v in tracker.vehicles.values() if v.trip >= 0 and v.stalled)
        vehicles.add_metric(["known"], float(stats["vehicles"]))
        vehicles.add_metric(["assigned"], float(stats["assigned"]))
        vehicles.add_metric(["off_route"], float(off))
        vehicles.add_metric(["no_progress"], float(stalled))
        yield vehicles
        pending = GaugeMetricFamily("transit_tracker_pending_arrivals", "Detected arrivals not yet stored")
        pending.add_metric([], float(len(self._service._events)))
        yield pending
        now = self._service.services.clock.now()
        yield from _accuracy_families(engine, dt.datetime.fromtimestamp(now, tracker.index.tz).date())


def _accuracy_families(engine: Any, today: dt.date) -> Iterator[Any]:
    table = engine.monitor.table(today)
    mae = GaugeMetricFamily("transit_prediction_mae_seconds",
                            "Mean absolute error of served predictions today, by line and horizon bucket",
                            labels=["route_id", "bucket"])
    inside = GaugeMetricFamily("transit_prediction_inside_window_ratio",
                               "Share of served predictions inside the published window today",
                               labels=["route_id", "bucket"])
    count = GaugeMetricFamily("transit_prediction_scored", "Served predictions scored today",
                              labels=["route_id", "bucket"])
    for route, rows in [("all", table.overall), *sorted(table.by_route.items())]:
        for r in rows:
            count.add_metric([route, r.bucket], float(r.n))
            if r.n:
                mae.add_metric([route, r.bucket], float(r.mae_s or 0.0))
                inside.add_metric([route, r.bucket], float(r.within_share or 0.0))
    yield mae
    yield inside
    yield count
