"""Static GTFS in: validation and loading into versioned, partitioned tables."""

from feeds.gtfs.errors import GtfsError, GtfsImportFailed
from feeds.gtfs.importer import FEED_CHANNEL, ImportResult, activate_version, active_feed_id, import_gtfs

__all__ = [
    "FEED_CHANNEL", "GtfsError", "GtfsImportFailed", "ImportResult", "activate_version", "active_feed_id",
    "import_gtfs",
]
