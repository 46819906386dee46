"""Reading a controller's day from PostgreSQL for the pure computation, and reading and writing the
coverage log (``signal_coverage_days``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np

from signals import codes as ec
from signals.coverage_day import EventInput
from signals.coverage_intersection import CameraDay, IntersectionDay
from signals.coverage_ratios import DayRecord
from signals.status import StatusMessage

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _utc(ts: float) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=ts)


async def load_status(conn: asyncpg.Connection, controller_id: str, start: float, end: float) -> list[StatusMessage]:
    """The day's messages, plus the last message, state and mode from before it (they carry over)."""
    rows = await conn.fetch(
        """(SELECT controller_id, ts, kind, state, mode, mode_source, plan_no, cycle_len_s FROM signal_status
            WHERE controller_id = $1 AND ts >= $2 AND ts < $3)
           UNION
           (SELECT controller_id, ts, kind, state, mode, mode_source, plan_no, cycle_len_s FROM signal_status
            WHERE controller_id = $1 AND ts < $2 ORDER BY ts DESC LIMIT 1)
           UNION
           (SELECT controller_id, ts, kind, state, mode, mode_source, plan_no, cycle_len_s FROM signal_status
            WHERE controller_id = $1 AND ts < $2 AND kind = 'state' ORDER BY ts DESC LIMIT 1)
           UNION
           (SELECT controller_id, ts, kind, state, mode, mode_source, plan_no, cycle_len_s FROM signal_status
            WHERE controller_id = $1 AND ts < $2 AND kind = 'mode' ORDER BY ts DESC LIMIT 1)""",
        controller_id, _utc(start), _utc(end))
    out = [StatusMessage(r["controller_id"], r["ts"].timestamp(), r["kind"], r["state"], r["mode"],
                         r["mode_source"], r["plan_no"], r["cycle_len_s"]) for r in rows]
    out.sort(key=lambda m: m.ts)
    return out


async def load_events(conn: asyncpg.Connection, controller_id: str, start: float, end: float) -> EventInput:
    """The day's events of the codes the log reads (with the last 131 and 173 before the day),
    the minutes with any event, and the day's event count."""
    rows = await conn.fetch(
        """(SELECT ts, code, param FROM signal_events
            WHERE controller_id = $1 AND ts >= $2 AND ts < $3 AND code = ANY($4::smallint[]))
           UNION ALL
           (SELECT ts, code, param FROM signal_events
            WHERE controller_id = $1 AND ts < $2 AND code = 131 ORDER BY ts DESC LIMIT 1)
           UNION ALL
           (SELECT ts, code, param FROM signal_events
            WHERE controller_id = $1 AND ts < $2 AND code = 173 ORDER BY ts DESC LIMIT 1)""",
        controller_id, _utc(start), _utc(end), list(ec.LOG_CODES))
    minutes = await conn.fetch(
        """SELECT floor(extract(epoch FROM ts - $2) / 60)::int AS m, count(*) AS n FROM signal_events
           WHERE controller_id = $1 AND ts >= $2 AND ts < $3 GROUP BY 1""",
        controller_id, _utc(start), _utc(end))
    if not rows and not minutes:
        return EventInput.empty()
    ts = np.array([r["ts"].timestamp() for r in rows], dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    return EventInput(
        ts=ts[order],
        code=np.array([r["code"] for r in rows], dtype=np.int16)[order],
        param=np.array([r["param"] for r in rows], dtype=np.int32)[order],
        active_minutes=np.array(sorted(r["m"] for r in minutes), dtype=np.int64),
        total=int(sum(r["n"] for r in minutes)),
    )


async def load_camera_days(conn: asyncpg.Connection, cameras: Sequence[str], day: dt.date) -> dict[str, CameraDay]:
    rows = await conn.fetch(
        "SELECT camera_id, heartbeats, captures FROM camera_days WHERE camera_id = ANY($1::text[]) AND day = $2",
        list(cameras), day)
    return {r["camera_id"]: CameraDay(r["camera_id"], r["heartbeats"], r["captures"]) for r in rows}


_COLUMNS = ("operating_min", "online_min", "realtime_min", "flash_min", "mode_min", "cycles", "cycle_mean_s",
            "cycle_std_s", "cycle_min_s", "cycle_max_s", "cycle_cv", "plan_changes", "plans",
            "cycle_length_changes", "split_changes", "gap_outs", "max_outs", "events", "status_messages",
            "cameras", "realtime", "reason_code", "reason", "evidence", "controllers", "partial")


async def save_day(conn: asyncpg.Connection, row: IntersectionDay) -> None:
    values = [getattr(row, c) for c in _COLUMNS]
    placeholders = ", ".join(f"${i + 3}" for i in range(len(_COLUMNS)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS)
    await conn.execute(
        f"INSERT INTO signal_coverage_days (intersection_id, day, {', '.join(_COLUMNS)}, computed_at) "  # noqa: S608
        f"VALUES ($1, $2, {placeholders}, now()) "
        f"ON CONFLICT (intersection_id, day) DO UPDATE SET {updates}, computed_at = now()",
        row.intersection_id, row.day, *values)


def _json_row(r: asyncpg.Record) -> dict[str, Any]:
    out = dict(r)
    out["day"] = r["day"].isoformat()
    out["computed_at"] = r["computed_at"].isoformat()
    return out


async def list_days(pool: asyncpg.Pool | asyncpg.Connection, date_from: dt.date, date_to: dt.date,
                    intersection_id: str | None = None) -> list[dict[str, Any]]:
    """The coverage log as JSON-ready dicts, by intersection then day."""
    rows = await pool.fetch(
        "SELECT d.*, i.name, i.is_key FROM signal_coverage_days d JOIN intersections i USING (intersection_id) "
        "WHERE d.day BETWEEN $1 AND $2 AND ($3::text IS NULL OR d.intersection_id = $3) "
        "ORDER BY d.intersection_id, d.day", date_from, date_to, intersection_id)
    return [_json_row(r) for r in rows]


async def list_day_records(pool: asyncpg.Pool | asyncpg.Connection, date_from: dt.date,
                           date_to: dt.date) -> list[DayRecord]:
    rows = await pool.fetch(
        "SELECT intersection_id, day, realtime, reason_code, operating_min, partial, cameras "
        "FROM signal_coverage_days WHERE day BETWEEN $1 AND $2", date_from, date_to)
    return [DayRecord(r["intersection_id"], r["day"], r["realtime"], r["reason_code"], r["operating_min"],
                      r["partial"], {cam: bool(v.get("reported")) for cam, v in (r["cameras"] or {}).items()})
            for r in rows]
