"""Bus GPS in: every source (GTFS-Realtime push and poll, JSON batches, AVL replays, and the
JT/T 808 server in ``feeds.gps.jt808``) turns its input into :class:`transit.core.fix.Fix` values
and hands them to the durable :class:`IngestPipeline` (``services.fix_sink``).

Layout: ``validate`` (pure checks), ``gtfsrt`` / ``jsonpos`` / ``replay`` (decoders: input to
fixes and rejections), ``batching`` (pure: duplicates, order, rows), ``pipeline`` + ``store`` +
``partitions`` (queue, group commit, PostgreSQL), ``http`` and ``poller`` (the network edges),
``replay_command`` (``transit replay``), ``component`` (wiring), ``metrics`` (shared collectors).

The names below are re-exported lazily, so that importing a pure module of this package (the
validation, the JT/T 808 codec) does not load asyncpg, aiohttp or protobuf.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DecodedFeed": "gtfsrt", "FeedDecodeError": "gtfsrt", "decode_vehicle_positions": "gtfsrt",
    "PositionsBodyError": "jsonpos", "parse_positions": "jsonpos",
    "FeedMetrics": "metrics", "IngestMetrics": "metrics", "get_feed_metrics": "metrics",
    "get_ingest_metrics": "metrics",
    "IngestPipeline": "pipeline",
    "FeedHealth": "poller", "FeedPoller": "poller", "PolledFeed": "poller", "list_polled_feeds": "poller",
    "AvlFile": "replay", "AvlFormatError": "replay", "load_avl": "replay", "parse_column_mapping": "replay",
    "read_avl": "replay",
    "FixLimits": "validate", "check_fix": "validate", "validate_fixes": "validate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'feeds.gps' has no attribute {name!r}")
    return getattr(importlib.import_module(f"feeds.gps.{module}"), name)
