"""The two GTFS-Realtime feeds, built once per snapshot and served as the same bytes to everyone.

Rules for the header timestamp, which consumers use to tell one feed from the next:

* it is the second the feed was built, and a new feed is built at most once per second, so it
  strictly increases from one feed to the next: never backwards [E018], and never the same for
  different content [E017].  A snapshot published within the second of the last build waits
  for the next second (content at most a second late);
* when the tracker publishes nothing new, the feed is still rebuilt every ``refresh_s`` (30 s):
  the header never gets older than a consumer tolerates [W008], and trips whose predictions went
  stale in the meantime leave the feed.

Between builds the publisher keeps each trip's and each vehicle's encoded entity, keyed by the
object the snapshot holds: the tracker replaces only what a batch of fixes changed, so a
rebuild re-encodes those and joins the rest.
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transit.core.snapshot import Snapshot
from transit.gtfsrt.selection import SelectedTrip, select_trips, select_vehicles
from transit.gtfsrt.trip_updates import encode_trip_entities
from transit.gtfsrt.vehicle_positions import encode_vehicle_entity
from transit.gtfsrt.wire import length_delimited, varint
from transit.schedule.index import ScheduleIndex

TRIP_UPDATES = "trip_updates"
VEHICLE_POSITIONS = "vehicle_positions"
GTFS_RT_VERSION = "2.0"


def feed_header(timestamp: int) -> bytes:
    """``FeedMessage.header``: version 2.0, FULL_DATASET, ``timestamp``."""
    body = (b"\x0a" + varint(len(GTFS_RT_VERSION)) + GTFS_RT_VERSION.encode()
            + b"\x10\x00"  # incrementality = FULL_DATASET, written out: some consumers test for it
            + b"\x18" + varint(timestamp))
    return length_delimited(b"\x0a", body)


@dataclass(eq=False)
class BuiltFeed:
    kind: str
    header_ts: int
    snapshot_version: int
    feed_id: int
    built_now: float
    body: bytes
    entities: int
    build_s: float
    dropped: Counter[str]
    etag: str = ""
    _snapshot: Snapshot | None = field(default=None, repr=False)
    _index: ScheduleIndex | None = field(default=None, repr=False)
    _gzip: bytes | None = field(default=None, repr=False)
    _json: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.etag = f'"{self.kind[0]}{self.header_ts}-{zlib.crc32(self.body):08x}"'

    def gzipped(self) -> bytes:
        """The body gzip-compressed, made on first demand and kept with the feed."""
        if self._gzip is None:
            self._gzip = gzip.compress(self.body, compresslevel=5, mtime=self.header_ts)
        return self._gzip

    def as_json(self) -> bytes:
        """The readable debug view: the decoded message as JSON (proto field names)."""
        if self._json is None:
            from google.protobuf import json_format
            from google.transit import gtfs_realtime_pb2 as pb

            message = pb.FeedMessage.FromString(self.body)
            data = json_format.MessageToDict(message, preserving_proto_field_name=True)
            self._json = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
        return self._json


class FeedPublisher:
    def __init__(
        self, *, stale_s: float, vehicle_stale_s: float, refresh_s: float = 30.0,
        on_build: Callable[[BuiltFeed], None] | None = None,
    ) -> None:
        self.stale_s = stale_s
        self.vehicle_stale_s = vehicle_stale_s
        self.refresh_s = refresh_s
        self._on_build = on_build
        self._feeds: dict[str, BuiltFeed] = {}
        self._trip_cache: dict[str, tuple[object, ScheduleIndex, bytes | None]] = {}
        self._vehicle_cache: dict[str, tuple[object, object, int | None, ScheduleIndex, bytes]] = {}
        self._builds: Counter[str] = Counter()
        self._reused: Counter[str] = Counter()

    # ------------------------------------------------------------------ public
    def get_trip_updates(self, snapshot: Snapshot, index: ScheduleIndex, now: float) -> BuiltFeed:
        return self._get(TRIP_UPDATES, snapshot, index, now)

    def get_vehicle_positions(self, snapshot: Snapshot, index: ScheduleIndex, now: float) -> BuiltFeed:
        return self._get(VEHICLE_POSITIONS, snapshot, index, now)

    def statistics(self) -> dict[str, Any]:
        return {
            kind: {"header_ts": f.header_ts, "snapshot_version": f.snapshot_version,
                   "entities": f.entities, "bytes": len(f.body), "build_s": round(f.build_s, 4),
                   "builds": self._builds[kind], "entities_reused": self._reused[kind]}
            for kind, f in self._feeds.items()
        }

    # ------------------------------------------------------------------ building
    def _get(self, kind: str, snapshot: Snapshot, index: ScheduleIndex, now: float) -> BuiltFeed:
        cached = self._feeds.get(kind)
        if (cached is not None and cached._snapshot is snapshot and cached._index is index
                and now - cached.built_now < self.refresh_s):
            return cached
        ts = int(now)
        if cached is not None and ts <= cached.header_ts:
            return cached  # one feed per second at most: header timestamps strictly increase
        started = time.perf_counter()
        if kind == TRIP_UPDATES:
            entities, dropped = self._trip_entities(snapshot, index, now)
        else:
            entities, dropped = self._vehicle_entities(snapshot, index, now)
        body = b"".join([feed_header(ts), *entities])
        feed = BuiltFeed(kind, ts, snapshot.version, index.feed_id, now, body, len(entities),
                         time.perf_counter() - started, dropped, _snapshot=snapshot, _index=index)
        self._feeds[kind] = feed
        self._builds[kind] += 1
        if self._on_build is not None:
            self._on_build(feed)
        return feed

    def _trip_entities(self, snapshot: Snapshot, index: ScheduleIndex, now: float) -> tuple[list[bytes], Counter[str]]:
        selection = select_trips(snapshot, index, now, self.stale_s)
        dropped = selection.dropped
        old = self._trip_cache
        fresh: dict[str, tuple[object, ScheduleIndex, bytes | None]] = {}
        missing: list[SelectedTrip] = []
        for sel in selection.trips:
            hit = old.get(sel.trip.entity_id)
            if hit is not None and hit[0] is sel.trip and hit[1] is index:
                fresh[sel.trip.entity_id] = hit
                if hit[2] is None:
                    dropped["no_valid_calls"] += 1
            else:
                missing.append(sel)
        self._reused[TRIP_UPDATES] += len(fresh)
        for sel, data in zip(missing, encode_trip_entities(missing, index, snapshot, now, dropped), strict=True):
            fresh[sel.trip.entity_id] = (sel.trip, index, data)
        self._trip_cache = fresh
        out = []
        for sel in selection.trips:
            data = fresh[sel.trip.entity_id][2]
            if data is not None:
                out.append(data)
        return out, dropped

    def _vehicle_entities(self, snapshot: Snapshot, index: ScheduleIndex, now: float) -> tuple[list[bytes], Counter[str]]:
        trips = select_trips(snapshot, index, now, self.stale_s).trips
        by_entity = {s.trip.entity_id: s for s in trips if self._trip_in_feed(s, index)}
        selected, dropped = select_vehicles(snapshot, index, now, self.vehicle_stale_s, by_entity)
        old = self._vehicle_cache
        fresh: dict[str, tuple[object, object, int | None, ScheduleIndex, bytes]] = {}
        out = []
        for sel in selected:
            trip = sel.trip.trip if sel.trip is not None else None
            hit = old.get(sel.vehicle.vehicle_id)
            if (hit is not None and hit[0] is sel.vehicle and hit[1] is trip and hit[2] == sel.stop_sequence
                    and hit[3] is index):
                data = hit[4]
                self._reused[VEHICLE_POSITIONS] += 1
            else:
                data = encode_vehicle_entity(sel, index, now)
            fresh[sel.vehicle.vehicle_id] = (sel.vehicle, trip, sel.stop_sequence, index, data)
            out.append(data)
        self._vehicle_cache = fresh
        return out, dropped

    def _trip_in_feed(self, sel: SelectedTrip, index: ScheduleIndex) -> bool:
        """Whether the TripUpdates feed holds this trip (a trip with no valid call is left out)."""
        hit = self._trip_cache.get(sel.trip.entity_id)
        if hit is not None and hit[0] is sel.trip and hit[1] is index:
            return hit[2] is not None
        return True
