"""PostgreSQL for the tracker: arrivals out, served trips and accuracy out, history and recent
positions in.  Every value is bound as a parameter; batches go in as arrays through ``unnest``
so one statement writes thousands of rows."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np

from transit.core.fix import Fix
from transit.prediction.accuracy import Totals
from transit.prediction.model import SegmentModel
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.network import band_of_seconds

UTC = dt.UTC


def _at(ts: float) -> dt.datetime | None:
    return None if ts is None or math.isnan(ts) else dt.datetime.fromtimestamp(ts, UTC)


async def write_arrivals(conn: asyncpg.Connection | asyncpg.Pool, events: Sequence[ArrivalEvent]) -> None:
    if not events:
        return
    await conn.execute(
        """INSERT INTO stop_arrivals (service_date, trip_id, start_time, stop_sequence, stop_id, route_id,
               vehicle_id, arrival_at, departure_at, scheduled_arrival_at, scheduled_departure_at, method,
               dist_m, feed_id, timepoint)
           SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
               $7::text[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
               $12::text[], $13::real[], $14::bigint[], $15::boolean[])
           ON CONFLICT DO NOTHING""",
        [e.service_date for e in events], [e.trip_id for e in events], [e.start_time for e in events],
        [e.stop_sequence for e in events], [e.stop_id for e in events], [e.route_id for e in events],
        [e.vehicle_id for e in events], [_at(e.arrival_ts) for e in events],
        [_at(e.departure_ts) for e in events], [_at(e.scheduled_arrival_ts) for e in events],
        [_at(e.scheduled_departure_ts) for e in events], [e.method for e in events],
        [e.dist_m for e in events], [e.feed_id for e in events], [e.timepoint for e in events],
    )


async def write_served(conn: asyncpg.Connection | asyncpg.Pool, rows: Sequence[list[Any]], feed_id: int | None) -> None:
    """Rows of [service_date, trip_id, start_time, route_id, first_ts, last_ts, snapshots]."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO served_trips (service_date, trip_id, start_time, route_id, feed_id, first_served_at,
               last_served_at, snapshots)
           SELECT d, t, s, r, $5, f, l, n FROM unnest($1::date[], $2::text[], $3::text[], $4::text[],
               $6::timestamptz[], $7::timestamptz[], $8::int[]) AS u(d, t, s, r, f, l, n)
           ON CONFLICT (service_date, trip_id, start_time) DO UPDATE SET
               route_id = EXCLUDED.route_id, feed_id = EXCLUDED.feed_id,
               first_served_at = LEAST(served_trips.first_served_at, EXCLUDED.first_served_at),
               last_served_at = GREATEST(served_trips.last_served_at, EXCLUDED.last_served_at),
               snapshots = served_trips.snapshots + EXCLUDED.snapshots""",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], feed_id,
        [_at(r[4]) for r in rows], [_at(r[5]) for r in rows], [int(r[6]) for r in rows],
    )


async def write_accuracy(
    conn: asyncpg.Connection | asyncpg.Pool, rows: Sequence[tuple[dt.date, str, str, Totals]]
) -> None:
    if not rows:
        return
    await conn.execute(
        """INSERT INTO prediction_accuracy (service_date, route_id, bucket, n, abs_error_s, error_s, within)
           SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::float8[],
               $7::bigint[])
           ON CONFLICT (service_date, route_id, bucket) DO UPDATE SET
               n = prediction_accuracy.n + EXCLUDED.n,
               abs_error_s = prediction_accuracy.abs_error_s + EXCLUDED.abs_error_s,
               error_s = prediction_accuracy.error_s + EXCLUDED.error_s,
               within = prediction_accuracy.within + EXCLUDED.within,
               updated_at = now()""",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3].n for r in rows],
        [r[3].abs_error_s for r in rows], [r[3].error_s for r in rows], [r[3].within for r in rows],
    )


async def read_accuracy(
    conn: asyncpg.Connection | asyncpg.Pool, first: dt.date, last: dt.date, route_id: str | None = None
) -> list[tuple[dt.date, str, str, Totals]]:
    """Stored accuracy sums for service days first..last (inclusive)."""
    rows = await conn.fetch(
        """SELECT service_date, route_id, bucket, n, abs_error_s, error_s, within FROM prediction_accuracy
           WHERE service_date BETWEEN $1 AND $2 AND ($3::text IS NULL OR route_id = $3)""",
        first, last, route_id,
    )
    return [(r["service_date"], r["route_id"], r["bucket"],
             Totals(int(r["n"]), float(r["abs_error_s"]), float(r["error_s"]), int(r["within"]))) for r in rows]


async def load_history(
    conn: asyncpg.Connection | asyncpg.Pool, model: SegmentModel, timezone: str, days: int, today: dt.date,
    hold_early_s: float | None = 0.0,
) -> int:
    """Aggregate the stored arrivals of the last ``days`` days into the model; return rows read.

    A link, as the model learns it online (:meth:`transit.tracking.outputs.Outputs.learn`), runs
    from the previous detected call (only where that is the previous stop of the trip: a segment
    of the model) to this call's arrival: from the previous call's departure when that was the
    first stop of the trip; from when the bus was due to leave (less ``hold_early_s``) when it
    reached a timepoint early; from its arrival otherwise.  ``hold_early_s`` None: buses are not
    taken to wait at timepoints.  The model takes its log ratio to the scheduled link time, on
    the network's running clock (``TrackingNetwork.row_clock_arr_s``), as it does online."""
    net = model.net
    ix = net.index
    # scheduled link times run on the network's clock (calls the timetable gives one time are
    # spread out): the calls where it differs from the timetable, and by how much
    moved = np.flatnonzero(np.abs(net.row_clock_arr_s - ix.st_arr_s) > 0.5)
    rows = await conn.fetch(
        """WITH c AS (
               SELECT * FROM unnest($5::text[], $6::int[], $7::float8[]) AS c(trip_id, stop_sequence, shift_s)),
           a AS (
               SELECT s.service_date, s.stop_id, s.arrival_at, s.scheduled_arrival_at, s.method,
                      s.scheduled_arrival_at + make_interval(secs => coalesce(c.shift_s, 0)) AS clock_arr,
                      lag(s.stop_id) OVER w AS from_stop,
                      lag(CASE WHEN s.method = 'first_stop' THEN s.departure_at
                               WHEN s.timepoint AND $4::float8 IS NOT NULL
                                   THEN greatest(s.arrival_at, s.scheduled_departure_at - make_interval(secs => $4))
                               ELSE s.arrival_at END) OVER w AS from_at,
                      lag(CASE WHEN s.method = 'first_stop' OR s.timepoint THEN s.scheduled_departure_at
                               ELSE s.scheduled_arrival_at END
                          + make_interval(secs => coalesce(c.shift_s, 0))) OVER w AS from_sched
               FROM stop_arrivals s LEFT JOIN c ON c.trip_id = s.trip_id AND c.stop_sequence = s.stop_sequence
               WHERE s.service_date >= $1
               WINDOW w AS (PARTITION BY s.service_date, s.trip_id, s.start_time ORDER BY s.stop_sequence)),
           r AS (
               SELECT service_date, from_stop, stop_id, scheduled_arrival_at,
                      extract(epoch FROM arrival_at - from_at) AS run,
                      greatest(extract(epoch FROM clock_arr - from_sched), 0) AS sched
               FROM a WHERE from_at IS NOT NULL AND arrival_at IS NOT NULL AND method <> 'passed')
           SELECT from_stop, stop_id, extract(isodow FROM service_date)::int AS dow,
                  extract(hour FROM scheduled_arrival_at AT TIME ZONE $2)::int AS hour,
                  count(*) AS n, avg(q) AS mean, stddev_samp(q) AS std
           FROM (SELECT *, ln((run + $3) / (sched + $3)) AS q FROM r WHERE run >= 0 AND run < 7200) x
           GROUP BY 1, 2, 3, 4""",
        today - dt.timedelta(days=days), timezone, model.params.offset_s, hold_early_s,
        [ix.trip_ids[t] for t in ix.st_trip[moved].tolist()], ix.st_seq[moved].tolist(),
        (net.row_clock_arr_s[moved] - ix.st_arr_s[moved]).tolist(),
    )
    if rows:
        n_stops = len(ix.stop_ids)
        pair_keys = net.segment_from.astype(np.int64) * n_stops + net.segment_to
        frm = np.array([ix.stop_pos.get(r["from_stop"], -1) for r in rows], dtype=np.int64)
        to = np.array([ix.stop_pos.get(r["stop_id"], -1) for r in rows], dtype=np.int64)
        key = frm * n_stops + to
        pos = np.clip(np.searchsorted(pair_keys, key), 0, max(0, len(pair_keys) - 1))
        seg = np.where((frm >= 0) & (to >= 0) & (len(pair_keys) > 0) & (pair_keys[pos] == key), pos, -1)
        dow = np.array([r["dow"] for r in rows], dtype=np.int64)
        day_type = np.where(dow <= 5, 0, np.where(dow == 6, 1, 2))
        band = band_of_seconds(np.array([r["hour"] for r in rows], dtype=np.int64) * 3600).astype(np.int64)
        model.load_history(
            seg, day_type, band, np.array([float(r["n"]) for r in rows]),
            np.array([float(r["mean"]) for r in rows]),
            np.array([float(r["std"]) if r["std"] is not None else np.nan for r in rows]),
        )
    dwell = await conn.fetch(
        """SELECT stop_id, extract(hour FROM scheduled_arrival_at AT TIME ZONE $2)::int AS hour, count(*) AS n,
                  avg(extract(epoch FROM departure_at - arrival_at)) AS mean
           FROM stop_arrivals WHERE service_date >= $1 AND method = 'at_stop'
                AND departure_at >= arrival_at AND departure_at - arrival_at < interval '10 minutes'
           GROUP BY 1, 2""",
        today - dt.timedelta(days=days), timezone,
    )
    if dwell:
        model.load_dwell_history(
            np.array([ix.stop_pos.get(r["stop_id"], -1) for r in dwell], dtype=np.int64),
            band_of_seconds(np.array([r["hour"] for r in dwell], dtype=np.int64) * 3600).astype(np.int64),
            np.array([float(r["n"]) for r in dwell]), np.array([float(r["mean"]) for r in dwell]),
        )
    return len(rows) + len(dwell)


async def read_recent_positions(conn: asyncpg.Connection | asyncpg.Pool, since_ts: float) -> list[Fix]:
    """Live fixes stored since ``since_ts``, in time order: what the tracker replays at start."""
    rows = await conn.fetch(
        """SELECT vehicle_id, ts, lat, lon, speed_mps, bearing_deg, trip_id, route_id, block_id, start_date,
                  start_time, label, source, received_at
           FROM positions WHERE ts >= $1 AND live ORDER BY ts""",
        dt.datetime.fromtimestamp(since_ts, UTC),
    )
    return [
        Fix(r["vehicle_id"], r["ts"].timestamp(), r["lat"], r["lon"], r["speed_mps"], r["bearing_deg"],
            r["trip_id"], r["route_id"], r["block_id"], r["start_date"], r["start_time"], r["label"], None,
            r["source"], True, r["received_at"].timestamp())
        for r in rows
    ]
