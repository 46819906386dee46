"""Bus GPS in: every source (GTFS-Realtime push and poll, JSON batches, AVL replays, and the
JT/T 808 server in ``feeds.gps.jt808``) turns its input into :class:`transit.core.fix.Fix` values
and hands them to the durable :class:`IngestPipeline`."""

from feeds.gps.metrics import IngestMetrics, get_feed_metrics, get_ingest_metrics
from feeds.gps.pipeline import IngestPipeline
from feeds.gps.validate import FixLimits, check_fix, validate_fixes

__all__ = [
    "FixLimits", "IngestMetrics", "IngestPipeline", "check_fix", "get_feed_metrics", "get_ingest_metrics",
    "validate_fixes",
]
