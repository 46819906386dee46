"""Whole-feed checks run in PostgreSQL on the freshly loaded, not yet attached tables.

Each check returns (line, problem) rows; the importer turns them into GtfsErrors.  Table names
are built from our own constants and the integer feed id, never from input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from feeds.gtfs.errors import GtfsError

LIMIT = 50


@dataclass(frozen=True, slots=True)
class Check:
    file: str
    needs: tuple[str, ...]  # tables that must have been loaded
    sql: Callable[[Callable[[str], str]], str]


def _checks() -> list[Check]:
    return [
        Check("stop_times.txt", ("gtfs_stop_times", "gtfs_trips"), lambda t: f"""
            SELECT st.line, format('trip_id %L is not in trips.txt', st.trip_id)
            FROM {t('gtfs_stop_times')} st
            WHERE NOT EXISTS (SELECT 1 FROM {t('gtfs_trips')} tr WHERE tr.trip_id = st.trip_id)
            ORDER BY st.line LIMIT {LIMIT}"""),
        Check("stop_times.txt", ("gtfs_stop_times", "gtfs_stops"), lambda t: f"""
            SELECT st.line, format('stop_id %L is not in stops.txt', st.stop_id)
            FROM {t('gtfs_stop_times')} st
            WHERE NOT EXISTS (SELECT 1 FROM {t('gtfs_stops')} s WHERE s.stop_id = st.stop_id)
            ORDER BY st.line LIMIT {LIMIT}"""),
        # One ordered pass finds repeated or decreasing stop_sequence (by file order within a
        # trip's rows sorted by sequence), times that run backwards, and end stops without times.
        Check("stop_times.txt", ("gtfs_stop_times",), lambda t: f"""
            WITH o AS (
                SELECT line, trip_id, stop_sequence, arrival_s, departure_s,
                       lag(stop_sequence) OVER w AS prev_seq,
                       max(coalesce(departure_s, arrival_s)) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING
                                                                   AND 1 PRECEDING) AS prev_time,
                       row_number() OVER w AS rn,
                       count(*) OVER (PARTITION BY trip_id) AS n
                FROM {t('gtfs_stop_times')}
                WINDOW w AS (PARTITION BY trip_id ORDER BY stop_sequence, line))
            SELECT line, CASE
                WHEN stop_sequence = prev_seq THEN
                    format('stop_sequence %s repeats in trip %L (stop_sequence must increase)',
                           stop_sequence, trip_id)
                WHEN stop_sequence < 0 THEN format('stop_sequence %s is negative', stop_sequence)
                WHEN coalesce(arrival_s, departure_s) < prev_time THEN
                    format('trip %L: stop_sequence %s is timed before the stop before it '
                           '(times must not decrease along stop_sequence)', trip_id, stop_sequence)
                WHEN arrival_s > departure_s THEN
                    format('trip %L stop_sequence %s departs before it arrives', trip_id, stop_sequence)
                ELSE format('trip %L: its %s stop (stop_sequence %s) needs an arrival or departure time',
                            trip_id, CASE WHEN rn = 1 THEN 'first' ELSE 'last' END, stop_sequence)
                END
            FROM o
            WHERE stop_sequence = prev_seq OR stop_sequence < 0
               OR coalesce(arrival_s, departure_s) < prev_time
               OR arrival_s > departure_s
               OR ((rn = 1 OR rn = n) AND arrival_s IS NULL AND departure_s IS NULL)
            ORDER BY line LIMIT {LIMIT}"""),
        Check("trips.txt", ("gtfs_trips", "gtfs_routes"), lambda t: f"""
            SELECT tr.line, format('route_id %L is not in routes.txt', tr.route_id)
            FROM {t('gtfs_trips')} tr
            WHERE NOT EXISTS (SELECT 1 FROM {t('gtfs_routes')} r WHERE r.route_id = tr.route_id)
            ORDER BY tr.line LIMIT {LIMIT}"""),
        Check("trips.txt", ("gtfs_trips",), lambda t: f"""
            WITH service AS (
                {_services_with_days(t)}
            )
            SELECT tr.line, format('trip %L has no service: service_id %L has no day in '
                                   'calendar.txt or calendar_dates.txt', tr.trip_id, tr.service_id)
            FROM {t('gtfs_trips')} tr
            WHERE NOT EXISTS (SELECT 1 FROM service s WHERE s.service_id = tr.service_id)
            ORDER BY tr.line LIMIT {LIMIT}"""),
        Check("trips.txt", ("gtfs_trips", "gtfs_shapes"), lambda t: f"""
            SELECT tr.line, format('shape_id %L is not in shapes.txt', tr.shape_id)
            FROM {t('gtfs_trips')} tr
            WHERE tr.shape_id IS NOT NULL AND tr.shape_id <> ''
              AND NOT EXISTS (SELECT 1 FROM {t('gtfs_shapes')} s WHERE s.shape_id = tr.shape_id)
            ORDER BY tr.line LIMIT {LIMIT}"""),
        Check("trips.txt", ("gtfs_trips",), lambda t: f"""
            SELECT line, format('direction_id %s must be 0 or 1', direction_id)
            FROM {t('gtfs_trips')} WHERE direction_id NOT IN (0, 1)
            ORDER BY line LIMIT {LIMIT}"""),
        Check("frequencies.txt", ("gtfs_frequencies", "gtfs_trips"), lambda t: f"""
            SELECT f.line, CASE
                WHEN NOT EXISTS (SELECT 1 FROM {t('gtfs_trips')} tr WHERE tr.trip_id = f.trip_id)
                    THEN format('trip_id %L is not in trips.txt', f.trip_id)
                WHEN f.headway_secs <= 0 THEN format('headway_secs %s must be positive', f.headway_secs)
                ELSE format('end_time %s is not after start_time %s', f.end_time, f.start_time) END
            FROM {t('gtfs_frequencies')} f
            WHERE NOT EXISTS (SELECT 1 FROM {t('gtfs_trips')} tr WHERE tr.trip_id = f.trip_id)
               OR f.headway_secs <= 0 OR f.end_s <= f.start_s
            ORDER BY f.line LIMIT {LIMIT}"""),
        Check("stops.txt", ("gtfs_stops",), lambda t: f"""
            SELECT line, CASE
                WHEN stop_lat IS NULL OR stop_lon IS NULL THEN format('stop %L has no position', stop_id)
                ELSE format('stop %L position %s,%s is not a valid latitude,longitude',
                            stop_id, stop_lat, stop_lon) END
            FROM {t('gtfs_stops')}
            WHERE coalesce(location_type, 0) IN (0, 1, 2)
              AND (stop_lat IS NULL OR stop_lon IS NULL OR stop_lat NOT BETWEEN -90 AND 90
                   OR stop_lon NOT BETWEEN -180 AND 180 OR (stop_lat = 0 AND stop_lon = 0))
            ORDER BY line LIMIT {LIMIT}"""),
        Check("calendar.txt", ("gtfs_calendar",), lambda t: f"""
            SELECT line, CASE WHEN end_date < start_date
                THEN format('service %L ends (%s) before it starts (%s)', service_id, end_date, start_date)
                ELSE format('service %L weekday flags must be 0 or 1', service_id) END
            FROM {t('gtfs_calendar')}
            WHERE end_date < start_date OR greatest(monday, tuesday, wednesday, thursday, friday,
                  saturday, sunday) > 1 OR least(monday, tuesday, wednesday, thursday, friday,
                  saturday, sunday) < 0
            ORDER BY line LIMIT {LIMIT}"""),
        Check("calendar_dates.txt", ("gtfs_calendar_dates",), lambda t: f"""
            SELECT line, format('exception_type %s must be 1 (added) or 2 (removed)', exception_type)
            FROM {t('gtfs_calendar_dates')} WHERE exception_type NOT IN (1, 2)
            ORDER BY line LIMIT {LIMIT}"""),
    ] + [_duplicate_check(file, table, keys) for file, table, keys in _KEYS]


# Small tables get an explicit duplicate check that names both lines; stop_times and shapes are
# covered by the ordered pass above and by their primary key.
_KEYS = [
    ("agency.txt", "gtfs_agency", ("agency_id",)),
    ("stops.txt", "gtfs_stops", ("stop_id",)),
    ("routes.txt", "gtfs_routes", ("route_id",)),
    ("trips.txt", "gtfs_trips", ("trip_id",)),
    ("calendar.txt", "gtfs_calendar", ("service_id",)),
    ("calendar_dates.txt", "gtfs_calendar_dates", ("service_id", "date")),
]


def _duplicate_check(file: str, table: str, keys: tuple[str, ...]) -> Check:
    cols = ", ".join(keys)
    shown = " || ' ' || ".join(f"quote_nullable({k}::text)" for k in keys)
    return Check(file, (table,), lambda t: f"""
        SELECT max(line), format('duplicate {cols} %s (first on line %s)', {shown}, min(line))
        FROM {t(table)} GROUP BY {cols} HAVING count(*) > 1
        ORDER BY 1 LIMIT {LIMIT}""")


def _services_with_days(t: Callable[[str], str]) -> str:
    parts = []
    if t("gtfs_calendar"):
        parts.append(f"""SELECT service_id FROM {t('gtfs_calendar')}
                         WHERE greatest(monday, tuesday, wednesday, thursday, friday, saturday, sunday) = 1""")
    if t("gtfs_calendar_dates"):
        parts.append(f"SELECT service_id FROM {t('gtfs_calendar_dates')} WHERE exception_type = 1")
    if not parts:
        return "SELECT NULL::text AS service_id WHERE false"
    return " UNION ".join(parts)


CHECKS = _checks()


async def run_checks(conn: asyncpg.Connection, loaded: dict[str, str]) -> list[GtfsError]:
    """``loaded`` maps a partitioned table name to the staging table holding this feed's rows."""

    def t(table: str) -> str:
        return loaded.get(table, "")

    errors: list[GtfsError] = []
    for check in CHECKS:
        if not all(table in loaded for table in check.needs):
            continue
        for line, problem in await conn.fetch(check.sql(t)):
            errors.append(GtfsError(check.file, line, problem))
    errors.sort(key=lambda e: (e.file, e.line or 0))
    return errors
