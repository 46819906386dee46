"""The signal component's Prometheus metrics, on the service's registry."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from transit.core.rejection import Rejection


def rejection_counter(registry: CollectorRegistry) -> Counter:
    """``transit_rejections_total{source,kind}``, the series every input of the service shares
    (created once per registry by the ingest metrics)."""
    from feeds.gps.metrics import get_ingest_metrics

    return get_ingest_metrics(registry).rejections


class SignalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejections = rejection_counter(registry)
        self.stored = Counter("transit_signal_rows_stored", "Controller and camera rows stored, by source",
                              ["source"], registry=registry)
        self.recomputed = Counter("transit_signal_days_recomputed",
                                  "Intersection-days of the coverage log recomputed", registry=registry)
        self.worker_errors = Counter("transit_signal_worker_errors",
                                     "Coverage-log recomputations that failed (retried)", registry=registry)
        self.dirty = Gauge("transit_signal_dirty_days", "Intersection-days waiting to be recomputed",
                           registry=registry)

    def reject(self, source: str, rejections: Iterable[Rejection]) -> None:
        for rejection in rejections:
            self.rejections.labels(source, str(rejection.kind)).inc()
