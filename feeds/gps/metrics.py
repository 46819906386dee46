"""The ingest metrics every GPS source shares, created once per registry.

prometheus-client refuses a second collector with the same name on one registry, and several
sources (HTTP, the poller, JT/T 808, replays) count into the same series, so they all ask
:func:`get_ingest_metrics` for the one set of collectors of ``services.registry``.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from transit.core.rejection import Rejection

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, eq=False)
class IngestMetrics:
    #: transit_rejections_total{source, kind}: every refused fix, row, frame or entity.
    rejections: Counter
    received: Counter
    stored: Counter
    out_of_order: Counter
    batches: Counter
    commit_seconds: Histogram
    ack_seconds: Histogram
    batch_fixes: Histogram
    buffer_fixes: Gauge
    storage_up: Gauge
    storage_errors: Counter

    def count_rejections(self, source: str, rejections: Iterable[Rejection]) -> None:
        for kind, n in collections.Counter(r.kind for r in rejections).items():
            self.rejections.labels(source, str(kind)).inc(n)


@dataclass(frozen=True, eq=False)
class FeedMetrics:
    """Health of polled GTFS-Realtime feeds, labelled by feed name."""

    polls: Counter
    entities: Counter
    last_success: Gauge
    last_error: Gauge
    consecutive_errors: Gauge
    header_timestamp: Gauge


_lock = threading.Lock()
_ingest: weakref.WeakKeyDictionary[CollectorRegistry, IngestMetrics] = weakref.WeakKeyDictionary()
_feeds: weakref.WeakKeyDictionary[CollectorRegistry, FeedMetrics] = weakref.WeakKeyDictionary()


def get_ingest_metrics(registry: CollectorRegistry) -> IngestMetrics:
    with _lock:
        found = _ingest.get(registry)
        if found is None:
            found = IngestMetrics(
                rejections=Counter("transit_rejections", "Inputs refused, by source and kind",
                                   ["source", "kind"], registry=registry),
                received=Counter("transit_ingest_fixes_received", "Fixes handed to the ingest pipeline",
                                 ["source"], registry=registry),
                stored=Counter("transit_ingest_fixes_stored", "Fixes committed to PostgreSQL",
                               ["source"], registry=registry),
                out_of_order=Counter("transit_ingest_fixes_out_of_order",
                                     "Fixes stored but kept out of live tracking (older than the "
                                     "vehicle's newest, or backlog)", ["source"], registry=registry),
                batches=Counter("transit_ingest_batches", "Group commits, by write path",
                                ["path"], registry=registry),
                commit_seconds=Histogram("transit_ingest_commit_seconds",
                                         "Time to COPY and commit one batch", buckets=_LATENCY_BUCKETS,
                                         registry=registry),
                ack_seconds=Histogram("transit_ingest_ack_seconds",
                                      "From submit to commit, per submission", buckets=_LATENCY_BUCKETS,
                                      registry=registry),
                batch_fixes=Histogram("transit_ingest_batch_fixes", "Fixes per group commit",
                                      buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 50000),
                                      registry=registry),
                buffer_fixes=Gauge("transit_ingest_buffer_fixes",
                                   "Fixes accepted but not yet committed", registry=registry),
                storage_up=Gauge("transit_ingest_storage_up",
                                 "1 while the last write to PostgreSQL succeeded", registry=registry),
                storage_errors=Counter("transit_ingest_storage_errors",
                                       "Failed batch writes (transient: retried; refused: sender told)",
                                       ["kind"], registry=registry),
            )
            _ingest[registry] = found
        return found


def get_feed_metrics(registry: CollectorRegistry) -> FeedMetrics:
    with _lock:
        found = _feeds.get(registry)
        if found is None:
            found = FeedMetrics(
                polls=Counter("transit_gtfsrt_feed_polls", "Polls of GTFS-Realtime feeds, by result",
                              ["feed", "result"], registry=registry),
                entities=Counter("transit_gtfsrt_feed_entities_read", "Entities read from polled feeds",
                                 ["feed"], registry=registry),
                last_success=Gauge("transit_gtfsrt_feed_last_success_timestamp_seconds",
                                   "When the feed last answered usefully (0: never)", ["feed"],
                                   registry=registry),
                last_error=Gauge("transit_gtfsrt_feed_last_error_timestamp_seconds",
                                 "When the feed last failed (0: never)", ["feed"], registry=registry),
                consecutive_errors=Gauge("transit_gtfsrt_feed_consecutive_errors",
                                         "Failures since the last success", ["feed"], registry=registry),
                header_timestamp=Gauge("transit_gtfsrt_feed_header_timestamp_seconds",
                                       "FeedHeader.timestamp of the last feed ingested", ["feed"],
                                       registry=registry),
            )
            _feeds[registry] = found
        return found
