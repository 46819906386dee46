"""The normalised GPS fix every source turns into."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fix:
    """One position of one vehicle.

    ``ts`` is the instant of the GPS fix in POSIX seconds (an absolute instant: no time zone
    ambiguity); ``received_ts`` is when the service got it.  ``live`` is False for backlog
    (JT/T 808 0x0704 type 1, replays marked as history): stored, but kept out of live tracking.
    """

    vehicle_id: str
    ts: float
    lat: float
    lon: float
    speed_mps: float | None = None
    bearing_deg: float | None = None
    trip_id: str | None = None
    route_id: str | None = None
    block_id: str | None = None
    #: GTFS-RT TripDescriptor start_date (YYYYMMDD) and start_time (HH:MM:SS), when given.
    start_date: str | None = None
    start_time: str | None = None
    #: Vehicle label shown to riders, e.g. the plate 鲁A·12345.
    label: str | None = None
    odometer_m: float | None = None
    source: str = ""
    live: bool = True
    received_ts: float = 0.0
