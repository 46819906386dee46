"""What the tracker remembers about one vehicle between fixes.

Mutable and private to the writer task: readers only ever see the immutable values published in
a snapshot.  Plain slots (not a dataclass) because the hot path touches a few of these fields per
fix for tens of thousands of fixes a second.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from transit.schedule.timetable import TripInstance

#: Fixes kept for trip inference (the scorer looks at the last few).
HISTORY = 16

#: (service date ordinal, trip index, frequency offset): identifies a trip instance.
InstanceKey = tuple[int, int, int]


class VehicleTrack:
    __slots__ = (
        "assigned_ts",
        "bearing_deg",
        "day_type",
        "dep_row",
        "dep_ts",
        "dist_m",
        "ended",
        "entity_id",
        "fixes_on_trip",
        "given_block",
        "given_route",
        "given_start_date",
        "given_start_time",
        "given_trip",
        "hist_from_ts",
        "hist_trip",
        "hist_ts",
        "hist_x",
        "hist_y",
        "how",
        "inst",
        "inst_key",
        "label",
        "last_sample_ts",
        "lat",
        "lon",
        "next_row",
        "off_route",
        "off_since_ts",
        "on_ts",
        "pace",
        "pace_den",
        "pace_num",
        "plan",
        "prev_end",
        "prev_route",
        "progress_m",
        "progress_ts",
        "pub",
        "rescored_ts",
        "serial",
        "since_rescore",
        "speed_est",
        "speed_mps",
        "stalled",
        "trip",
        "ts",
        "vehicle_id",
        "x",
        "y",
        "zone_arr_ts",
        "zone_method",
        "zone_row",
    )

    def __init__(self, vehicle_id: str) -> None:
        self.vehicle_id = vehicle_id
        self.label: str | None = None
        self.ts = -math.inf
        self.lat = 0.0
        self.lon = 0.0
        self.x = 0.0
        self.y = 0.0
        self.speed_mps: float | None = None
        self.bearing_deg: float | None = None
        self.hist_ts: deque[float] = deque(maxlen=HISTORY)
        self.hist_x: deque[float] = deque(maxlen=HISTORY)
        self.hist_y: deque[float] = deque(maxlen=HISTORY)
        self.hist_trip: deque[str | None] = deque(maxlen=HISTORY)
        self.given_trip: str | None = None
        self.given_route: str | None = None
        self.given_block: str | None = None
        self.given_start_date: str | None = None
        self.given_start_time: str | None = None
        self.clear_trip()
        self.prev_end: tuple[int, float] | None = None
        #: Trip inference looks at fixes from here on (the end of the previous trip).
        self.hist_from_ts = -math.inf
        #: The line of the vehicle's latest trip (-1: none yet).
        self.prev_route = -1
        self.last_sample_ts = -math.inf
        self.pub: Any = None

    def clear_trip(self) -> None:
        self.trip = -1
        self.inst: TripInstance | None = None
        self.inst_key: InstanceKey | None = None
        self.serial = -1
        self.entity_id: str | None = None
        self.how = "none"
        self.day_type = 0
        self.dist_m = 0.0
        self.on_ts = -math.inf
        self.next_row = -1
        self.zone_row = -1
        self.zone_arr_ts = math.nan
        self.zone_method = ""
        self.dep_row = -1
        self.dep_ts = math.nan
        self.off_route = False
        self.off_since_ts = math.nan
        self.progress_ts = -math.inf
        self.progress_m = 0.0
        self.stalled = False
        self.fixes_on_trip = 0
        self.assigned_ts = -math.inf
        self.ended = False
        self.pace = 1.0
        self.pace_num = 0.0
        self.pace_den = 0.0
        self.since_rescore = 0
        self.rescored_ts = -math.inf
        self.speed_est = 8.0
        #: The trip and the following trips of its block that predictions cover (a
        #: ``publish.TripPlan``), made when first needed.
        self.plan: Any = None

    def remember(self, ts: float, x: float, y: float, trip_id: str | None) -> None:
        self.hist_ts.append(ts)
        self.hist_x.append(x)
        self.hist_y.append(y)
        self.hist_trip.append(trip_id)
