"""Fare import metrics, created once per registry (several entry points count into them)."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from feeds.fares.parse import FareBatch
from feeds.fares.store import StoreResult
from feeds.gps.metrics import get_ingest_metrics


@dataclass(frozen=True, eq=False)
class FareMetrics:
    registry: CollectorRegistry
    rows: Counter
    batches: Counter

    def count(self, source: str, batch: FareBatch, result: StoreResult | None) -> None:
        kind = source.split(":", 1)[0]
        self.batches.labels(kind).inc()
        if result is not None:
            self.rows.labels("new").inc(result.inserted)
            self.rows.labels("duplicate").inc(result.duplicates)
            self.rows.labels("aggregate").inc(result.aggregates)
        self.rows.labels("rejected").inc(batch.rejected)
        # transit_rejections_total{source="fares", kind}: the series every input shares.
        rejections = get_ingest_metrics(self.registry).rejections
        for name, n in batch.rejected_by_kind.items():
            rejections.labels("fares", name).inc(n)


_lock = threading.Lock()
_metrics: weakref.WeakKeyDictionary[CollectorRegistry, FareMetrics] = weakref.WeakKeyDictionary()


def get_fare_metrics(registry: CollectorRegistry) -> FareMetrics:
    with _lock:
        found = _metrics.get(registry)
        if found is None:
            found = FareMetrics(
                registry=registry,
                rows=Counter("transit_fares_rows", "Fare rows imported, by result (new, duplicate, "
                                                   "aggregate, rejected)", ["result"], registry=registry),
                batches=Counter("transit_fares_batches", "Fare batches received, by entry point",
                                ["source"], registry=registry),
            )
            _metrics[registry] = found
        return found
