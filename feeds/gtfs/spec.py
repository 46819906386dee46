"""What a GTFS feed must and may contain, as far as this service loads it.

``kinds`` gives the type of each column that is not text: "int", "float", "date" or "time"
(H:MM:SS, stored as seconds in a column named ``*_s``: arrival_time -> arrival_s).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FileSpec:
    file: str  # e.g. "stop_times.txt"
    table: str  # the partitioned table, e.g. "gtfs_stop_times"
    required: bool
    required_columns: tuple[str, ...]
    columns: tuple[str, ...]
    kinds: dict[str, str] = field(default_factory=dict)
    #: Primary key in the database (small tables); big tables are checked in Python instead.
    key: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.file.removesuffix(".txt")

    def db_column(self, column: str) -> str:
        return column.removesuffix("_time") + "_s" if self.kinds.get(column) == "time" else column


_WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "agency.txt", "gtfs_agency", True,
        ("agency_name", "agency_url", "agency_timezone"),
        ("agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang", "agency_phone",
         "agency_fare_url", "agency_email"),
    ),
    FileSpec(
        "stops.txt", "gtfs_stops", True,
        ("stop_id",),
        ("stop_id", "stop_code", "stop_name", "stop_desc", "stop_lat", "stop_lon", "zone_id", "stop_url",
         "location_type", "parent_station", "stop_timezone", "wheelchair_boarding", "platform_code"),
        {"stop_lat": "float", "stop_lon": "float", "location_type": "int", "wheelchair_boarding": "int"},
        ("stop_id",),
    ),
    FileSpec(
        "routes.txt", "gtfs_routes", True,
        ("route_id", "route_type"),
        ("route_id", "agency_id", "route_short_name", "route_long_name", "route_desc", "route_type",
         "route_url", "route_color", "route_text_color", "route_sort_order"),
        {"route_type": "int", "route_sort_order": "int"},
        ("route_id",),
    ),
    FileSpec(
        "trips.txt", "gtfs_trips", True,
        ("route_id", "service_id", "trip_id"),
        ("route_id", "service_id", "trip_id", "trip_headsign", "trip_short_name", "direction_id", "block_id",
         "shape_id", "wheelchair_accessible", "bikes_allowed"),
        {"direction_id": "int", "wheelchair_accessible": "int", "bikes_allowed": "int"},
        ("trip_id",),
    ),
    FileSpec(
        "stop_times.txt", "gtfs_stop_times", True,
        ("trip_id", "stop_id", "stop_sequence"),
        ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "stop_headsign",
         "pickup_type", "drop_off_type", "continuous_pickup", "continuous_drop_off", "shape_dist_traveled",
         "timepoint"),
        {"arrival_time": "time", "departure_time": "time", "stop_sequence": "int", "pickup_type": "int",
         "drop_off_type": "int", "continuous_pickup": "int", "continuous_drop_off": "int",
         "shape_dist_traveled": "float", "timepoint": "int"},
    ),
    FileSpec(
        "shapes.txt", "gtfs_shapes", False,
        ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
        ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"),
        {"shape_pt_lat": "float", "shape_pt_lon": "float", "shape_pt_sequence": "int",
         "shape_dist_traveled": "float"},
    ),
    FileSpec(
        "calendar.txt", "gtfs_calendar", False,
        ("service_id", *_WEEK, "start_date", "end_date"),
        ("service_id", *_WEEK, "start_date", "end_date"),
        {**{d: "int" for d in _WEEK}, "start_date": "date", "end_date": "date"},
        ("service_id",),
    ),
    FileSpec(
        "calendar_dates.txt", "gtfs_calendar_dates", False,
        ("service_id", "date", "exception_type"),
        ("service_id", "date", "exception_type"),
        {"date": "date", "exception_type": "int"},
        ("service_id", "date"),
    ),
    FileSpec(
        "frequencies.txt", "gtfs_frequencies", False,
        ("trip_id", "start_time", "end_time", "headway_secs"),
        ("trip_id", "start_time", "end_time", "headway_secs", "exact_times"),
        {"start_time": "time", "end_time": "time", "headway_secs": "int", "exact_times": "int"},
        ("trip_id", "start_s"),
    ),
    FileSpec(
        "translations.txt", "gtfs_translations", False,
        ("table_name", "field_name", "language", "translation"),
        ("table_name", "field_name", "language", "translation", "record_id", "record_sub_id", "field_value"),
    ),
)

BY_FILE = {spec.file: spec for spec in FILES}
BY_TABLE = {spec.table: spec for spec in FILES}
