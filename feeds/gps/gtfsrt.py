"""GTFS-Realtime VehiclePositions → fixes: the decoder shared by the push endpoint and the poller.

A body that is not a FeedMessage at all is a :class:`FeedDecodeError` (the sender gets 400 naming
the problem).  Inside a good message, each VehiclePosition that cannot become a fix is a
rejection indexed by its entity's position, and the others are kept.  Entities that are not
vehicle positions (trip updates, alerts in a combined feed, deletions) are counted as ignored.

The loop is written for speed (the tracker downstream wants tens of thousands of fixes a second
and a city feed holds thousands of vehicles): each sub-message is fetched once, since every
attribute step through upb allocates.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2

from feeds.gps._fixfactory import new_fix
from transit.core.fix import Fix
from transit.core.rejection import Rejection, RejectionKind


class FeedDecodeError(ValueError):
    """The bytes are not a GTFS-Realtime FeedMessage."""


@dataclass(frozen=True, slots=True)
class DecodedFeed:
    #: FeedHeader.timestamp (POSIX seconds), None when absent.
    header_ts: float | None
    fixes: list[Fix]
    #: The entity index each fix came from (rejections from later stages map back through it).
    entity_index: list[int]
    rejections: list[Rejection]
    entities: int
    ignored: int


def parse_feed(data: bytes) -> gtfs_realtime_pb2.FeedMessage:
    if not data:
        raise FeedDecodeError("empty body: expected a binary GTFS-Realtime FeedMessage")
    message = gtfs_realtime_pb2.FeedMessage()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise FeedDecodeError(f"not a GTFS-Realtime FeedMessage ({len(data)} bytes): {exc}") from None
    return message


def decode_vehicle_positions(data: bytes, *, received_ts: float, source: str = "gtfs-rt") -> DecodedFeed:
    """Decode a FeedMessage and turn its VehiclePositions into fixes.

    A fix's time is VehiclePosition.timestamp, else the header's timestamp (feeds such as the
    USF Bull Runner's stamp only the header), else ``received_ts``.
    """
    return fixes_from_feed(parse_feed(data), received_ts=received_ts, source=source)


def fixes_from_feed(
    message: gtfs_realtime_pb2.FeedMessage, *, received_ts: float, source: str = "gtfs-rt"
) -> DecodedFeed:
    """The fixes of an already parsed FeedMessage (see :func:`decode_vehicle_positions`)."""
    header = message.header
    header_ts = float(header.timestamp) if header.timestamp else None
    default_ts = header_ts if header_ts is not None else float(received_ts)
    fixes: list[Fix] = []
    entity_index: list[int] = []
    rejections: list[Rejection] = []
    ignored = 0
    n = len(message.entity)
    append_fix = fixes.append
    append_index = entity_index.append
    for i, entity in enumerate(message.entity):
        # Optional scalars are read first and HasField asked only when the value is the default
        # (a set field is non-zero in nearly every fix): each HasField through upb costs as much
        # as a read, and the decoder's budget is a few microseconds an entity.
        vp = entity.vehicle
        if entity.is_deleted or not vp.HasField("position"):
            if entity.is_deleted or not entity.HasField("vehicle"):
                ignored += 1
            else:
                rejections.append(Rejection(i, RejectionKind.MISSING_FIELD,
                                            f"entity {entity.id!r}: vehicle.position is missing"))
            continue
        position = vp.position
        descriptor = vp.vehicle
        label = descriptor.label
        vehicle_id = descriptor.id or label
        if not vehicle_id:
            rejections.append(Rejection(i, RejectionKind.MISSING_FIELD,
                                        f"entity {entity.id!r}: vehicle.vehicle.id (and label) is missing"))
            continue
        lat = position.latitude
        lon = position.longitude
        if (not lat and not position.HasField("latitude")) or (not lon and not position.HasField("longitude")):
            rejections.append(Rejection(i, RejectionKind.MISSING_FIELD,
                                        f"entity {entity.id!r}: vehicle.position.latitude/longitude is missing"))
            continue
        # An absent trip reads as an empty TripDescriptor, whose fields are all "" (→ None).
        trip = vp.trip
        ts = vp.timestamp
        speed = position.speed
        bearing = position.bearing
        odometer = position.odometer
        append_fix(new_fix(
            vehicle_id,
            float(ts) if ts or vp.HasField("timestamp") else default_ts,
            lat,
            lon,
            speed if speed or position.HasField("speed") else None,
            bearing if bearing or position.HasField("bearing") else None,
            trip.trip_id or None,
            trip.route_id or None,
            None,
            trip.start_date or None,
            trip.start_time or None,
            label or None,
            odometer if odometer or position.HasField("odometer") else None,
            source,
            True,
            received_ts,
        ))
        append_index(i)
    return DecodedFeed(header_ts, fixes, entity_index, rejections, n, ignored)
