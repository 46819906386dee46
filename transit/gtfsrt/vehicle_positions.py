"""Encoding VehiclePositions: one serialized ``FeedEntity`` per vehicle, with the protobuf bindings.

A vehicle is a dozen fields, so the bindings are fast enough here (a few milliseconds for
thousands of vehicles) and the publisher reuses a vehicle's bytes until the tracker replaces its
state.  Positions are checked before they are written: latitude and longitude in range [E026],
bearing in [0, 360) [E027], speed not negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from google.transit import gtfs_realtime_pb2 as pb

from transit.core.snapshot import VehicleStatus
from transit.gtfsrt.selection import SelectedVehicle
from transit.gtfsrt.wire import length_delimited
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import format_gtfs_time

_STATUS = {
    VehicleStatus.INCOMING_AT: pb.VehiclePosition.INCOMING_AT,
    VehicleStatus.STOPPED_AT: pb.VehiclePosition.STOPPED_AT,
    VehicleStatus.IN_TRANSIT_TO: pb.VehiclePosition.IN_TRANSIT_TO,
}


def encode_vehicle_entity(sel: SelectedVehicle, index: ScheduleIndex, now: float) -> bytes:
    """A ``FeedMessage.entity`` field (tag, length, FeedEntity) for one vehicle."""
    v = sel.vehicle
    entity = pb.FeedEntity(id=v.vehicle_id)
    vp = entity.vehicle
    vp.vehicle.id = v.vehicle_id
    if v.label:
        vp.vehicle.label = v.label
    vp.position.latitude = v.lat
    vp.position.longitude = v.lon
    if v.bearing_deg is not None and math.isfinite(v.bearing_deg):
        vp.position.bearing = v.bearing_deg % 360.0
    if v.speed_mps is not None and math.isfinite(v.speed_mps) and v.speed_mps >= 0:
        vp.position.speed = v.speed_mps
    vp.timestamp = int(min(v.ts, now))
    if sel.trip is not None:
        trip, t = sel.trip.trip, sel.trip.trip_index
        vp.trip.trip_id = trip.trip_id
        vp.trip.route_id = index.route_ids[int(index.trip_route[t])]
        direction = int(index.trip_direction[t])
        if direction >= 0:
            vp.trip.direction_id = direction
        vp.trip.start_date = trip.service_date
        if index.is_frequency_trip(t):
            vp.trip.start_time = trip.start_time or format_gtfs_time(int(index.trip_first_dep_s[t]))
        if sel.trip.unscheduled:
            vp.trip.schedule_relationship = pb.TripDescriptor.UNSCHEDULED
        if sel.stop_sequence is not None and sel.stop_id is not None:
            vp.current_stop_sequence = sel.stop_sequence
            vp.stop_id = sel.stop_id
            vp.current_status = _STATUS.get(v.status, pb.VehiclePosition.IN_TRANSIT_TO)
    return length_delimited(b"\x12", entity.SerializeToString())


def encode_vehicle_entities(
    selected: Sequence[SelectedVehicle], index: ScheduleIndex, now: float
) -> list[bytes]:
    return [encode_vehicle_entity(s, index, now) for s in selected]

