"""GTFS-Realtime out: TripUpdates and VehiclePositions built once per snapshot, and the static zip.

``selection.py`` decides (pure) what goes in and how it is marked, ``trip_updates.py`` and
``vehicle_positions.py`` encode, ``publisher.py`` caches and stamps the feeds, ``web.py`` serves them.
"""

from transit.gtfsrt.publisher import BuiltFeed, FeedPublisher, feed_header
from transit.gtfsrt.selection import SelectedTrip, Selection, TripMode, select_trips, select_vehicles
from transit.gtfsrt.trip_updates import encode_trip_entities
from transit.gtfsrt.web import setup

__all__ = [
    "BuiltFeed", "FeedPublisher", "SelectedTrip", "Selection", "TripMode", "encode_trip_entities",
    "feed_header", "select_trips", "select_vehicles", "setup",
]
