"""The static schedule in memory: numpy arrays built once per feed version."""

from transit.schedule.build import ScheduleTables, build_index
from transit.schedule.geometry import LocalProjection, haversine_m
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import (
    format_gtfs_date,
    format_gtfs_time,
    local_date,
    parse_gtfs_date,
    parse_gtfs_time,
    service_day_start,
)

__all__ = [
    "LocalProjection", "ScheduleIndex", "ScheduleTables", "build_index", "format_gtfs_date",
    "format_gtfs_time", "haversine_m", "local_date", "parse_gtfs_date", "parse_gtfs_time",
    "service_day_start",
]
