"""What a GTFS feed must and may contain, as far as this service loads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileSpec:
    file: str  # e.g. "stop_times.txt"
    table: str  # the partitioned table, e.g. "gtfs_stop_times"
    required: bool
    required_columns: tuple[str, ...]
    #: Columns of the table that a file may carry (others are loaded and dropped).
    columns: tuple[str, ...]
    #: Columns that hold numbers or dates: an empty quoted value there means NULL.
    typed_columns: tuple[str, ...] = ()
    #: Columns whose empty value is replaced before loading (agency_id may be omitted).
    defaults: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.file.removesuffix(".txt")


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
        ("stop_lat", "stop_lon", "location_type", "wheelchair_boarding"),
    ),
    FileSpec(
        "routes.txt", "gtfs_routes", True,
        ("route_id", "route_type"),
        ("route_id", "agency_id", "route_short_name", "route_long_name", "route_desc", "route_type",
         "route_url", "route_color", "route_text_color", "route_sort_order"),
        ("route_type", "route_sort_order"),
    ),
    FileSpec(
        "trips.txt", "gtfs_trips", True,
        ("route_id", "service_id", "trip_id"),
        ("route_id", "service_id", "trip_id", "trip_headsign", "trip_short_name", "direction_id", "block_id",
         "shape_id", "wheelchair_accessible", "bikes_allowed"),
        ("direction_id", "wheelchair_accessible", "bikes_allowed"),
    ),
    FileSpec(
        "stop_times.txt", "gtfs_stop_times", True,
        ("trip_id", "stop_id", "stop_sequence"),
        ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "stop_headsign",
         "pickup_type", "drop_off_type", "continuous_pickup", "continuous_drop_off", "shape_dist_traveled",
         "timepoint"),
        ("arrival_time", "departure_time", "stop_sequence", "pickup_type", "drop_off_type",
         "continuous_pickup", "continuous_drop_off", "shape_dist_traveled", "timepoint"),
    ),
    FileSpec(
        "shapes.txt", "gtfs_shapes", False,
        ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
        ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"),
        ("shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"),
    ),
    FileSpec(
        "calendar.txt", "gtfs_calendar", False,
        ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
         "start_date", "end_date"),
        ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
         "start_date", "end_date"),
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "start_date",
         "end_date"),
    ),
    FileSpec(
        "calendar_dates.txt", "gtfs_calendar_dates", False,
        ("service_id", "date", "exception_type"),
        ("service_id", "date", "exception_type"),
        ("date", "exception_type"),
    ),
    FileSpec(
        "frequencies.txt", "gtfs_frequencies", False,
        ("trip_id", "start_time", "end_time", "headway_secs"),
        ("trip_id", "start_time", "end_time", "headway_secs", "exact_times"),
        ("headway_secs", "exact_times"),
    ),
    FileSpec(
        "translations.txt", "gtfs_translations", False,
        ("table_name", "field_name", "language", "translation"),
        ("table_name", "field_name", "language", "translation", "record_id", "record_sub_id", "field_value"),
    ),
)

BY_FILE = {spec.file: spec for spec in FILES}
BY_TABLE = {spec.table: spec for spec in FILES}
