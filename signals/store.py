"""Storing what controllers and cameras report, and marking the coverage-log days it changes.

Everything a batch writes (its rows and the dirty marks for the days it touches) commits in one
transaction, so an acknowledged batch is in PostgreSQL and its days will be recomputed even if the
process dies right after.

Indiana events go in with binary COPY built by numpy.  A log replaces what was stored for the same
controller, time span and event codes, so importing a file twice stores it once while extracts of
other codes for the same hours are kept.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from signals.cameras import CameraDayUpdate
from signals.indiana import ParsedEvents
from signals.status import StatusMessage

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in POSIX microseconds
_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class StoreResult:
    stored: int
    replaced: int = 0
    unregistered: tuple[str, ...] = ()
    days: dict[str, list[str]] = field(default_factory=dict)


def binary_copy_payload(signal_ids: Sequence[str], signal_index: np.ndarray, ts_us: np.ndarray,
                        code: np.ndarray, param: np.ndarray) -> bytes:
    """The rows in PostgreSQL's binary COPY format for (controller_id, ts, code, param).

    Rows of one controller share the id's byte length, so each controller's rows are one numpy
    structured array, sorted by time; the payload is their bytes in turn.
    """
    parts = [_HEADER]
    for k, sid in enumerate(signal_ids):
        rows = np.flatnonzero(signal_index == k) if len(signal_ids) > 1 else np.arange(len(ts_us))
        if not len(rows):
            continue
        rows = rows[np.argsort(ts_us[rows], kind="stable")]  # in index order: cheaper btree inserts
        ident = sid.encode()
        dtype = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", f"S{len(ident)}"), ("l2", ">i4"), ("ts", ">i8"),
                          ("l3", ">i4"), ("code", ">i2"), ("l4", ">i4"), ("param", ">i4")])
        arr = np.empty(len(rows), dtype=dtype)
        arr["nf"], arr["l1"], arr["id"], arr["l2"], arr["l3"], arr["l4"] = 4, len(ident), ident, 8, 2, 4
        arr["ts"] = ts_us[rows] - _PG_EPOCH_US
        arr["code"] = code[rows]
        arr["param"] = param[rows]
        parts.append(arr.tobytes())
    parts.append(_TRAILER)
    return b"".join(parts)


def local_days(ts_us: np.ndarray, tz: str) -> list[dt.date]:
    """The distinct local dates of POSIX-microsecond instants."""
    if not len(ts_us):
        return []
    aware = pa.array(ts_us, type=pa.timestamp("us", tz="UTC"))
    local = pc.cast(pc.local_timestamp(pc.cast(aware, pa.timestamp("us", tz=tz))), pa.int64()).to_numpy()
    days = np.unique(np.floor_divide(local, 86_400_000_000))
    epoch = dt.date(1970, 1, 1)
    return [epoch + dt.timedelta(days=int(d)) for d in days]


async def _mark_controller_days(conn: asyncpg.Connection, controller_id: str, days: list[dt.date]) -> bool:
    """Record the data days and mark the owning intersection's days dirty; False if unregistered."""
    await conn.execute(
        "INSERT INTO signal_controller_days (controller_id, day) SELECT $1, d FROM unnest($2::date[]) d "
        "ON CONFLICT DO NOTHING", controller_id, days)
    owner = await conn.fetchval(
        "SELECT intersection_id FROM intersection_controllers WHERE controller_id = $1", controller_id)
    if owner is None:
        return False
    await mark_dirty(conn, owner, days)
    return True


async def mark_dirty(conn: asyncpg.Connection, intersection_id: str, days: Sequence[dt.date]) -> None:
    if days:
        await conn.execute(
            "INSERT INTO signal_dirty_days (intersection_id, day) SELECT $1, d FROM unnest($2::date[]) d "
            "ON CONFLICT (intersection_id, day) DO UPDATE SET marked_at = clock_timestamp()",
            intersection_id, list(days))


async def store_events(pool: asyncpg.Pool, parsed: ParsedEvents, tz: str) -> StoreResult:
    """Replace-then-COPY the parsed events and mark their days; one transaction."""
    if not len(parsed):
        return StoreResult(0)
    present = np.unique(parsed.signal_index)
    replaced = 0
    unregistered: list[str] = []
    days_out: dict[str, list[str]] = {}
    payload = binary_copy_payload(parsed.signal_ids, parsed.signal_index, parsed.ts_us, parsed.code, parsed.param)
    async with pool.acquire() as conn, conn.transaction():
        for k in present.tolist():
            sid = parsed.signal_ids[k]
            mask = parsed.signal_index == k if len(present) > 1 else slice(None)
            ts = parsed.ts_us[mask]
            codes = np.unique(parsed.code[mask]).tolist()
            lo = _EPOCH + dt.timedelta(microseconds=int(ts.min()))
            hi = _EPOCH + dt.timedelta(microseconds=int(ts.max()))
            status = await conn.execute(
                "DELETE FROM signal_events WHERE controller_id = $1 AND ts BETWEEN $2 AND $3 "
                "AND code = ANY($4::smallint[])", sid, lo, hi, codes)
            replaced += int(status.split()[-1])
            days = local_days(ts, tz)
            days_out[sid] = [d.isoformat() for d in days]
            if not await _mark_controller_days(conn, sid, days):
                unregistered.append(sid)
        await conn.copy_to_table("signal_events", source=io.BytesIO(payload), format="binary",
                                 columns=["controller_id", "ts", "code", "param"])
    return StoreResult(len(parsed), replaced, tuple(sorted(unregistered)), days_out)


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


async def store_status(pool: asyncpg.Pool, messages: Sequence[StatusMessage], tz: str) -> StoreResult:
    """Insert status messages (a repeated message is stored once) and mark their days."""
    if not messages:
        return StoreResult(0)
    import zoneinfo

    zone = zoneinfo.ZoneInfo(tz)
    by_controller: dict[str, set[dt.date]] = {}
    for m in messages:
        by_controller.setdefault(m.controller_id, set()).add(dt.datetime.fromtimestamp(m.ts, zone).date())
    unregistered: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute(
            """INSERT INTO signal_status (controller_id, ts, kind, state, mode, mode_source, plan_no, cycle_len_s)
               SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::int[], $8::real[])
               ON CONFLICT (controller_id, ts, kind) DO NOTHING""",
            [m.controller_id for m in messages], [_utc(m.ts) for m in messages], [m.kind for m in messages],
            [m.state for m in messages], [m.mode for m in messages], [m.mode_source for m in messages],
            [m.plan_no for m in messages], [m.cycle_len_s for m in messages])
        stored = int(status.split()[-1])
        for controller, days in sorted(by_controller.items()):
            if not await _mark_controller_days(conn, controller, sorted(days)):
                unregistered.append(controller)
    return StoreResult(stored, 0, tuple(unregistered),
                       {c: sorted(d.isoformat() for d in days) for c, days in by_controller.items()})


async def store_camera_days(pool: asyncpg.Pool, updates: Sequence[CameraDayUpdate]) -> StoreResult:
    """Add heartbeats to each camera's day and set its capture count; mark the days."""
    if not updates:
        return StoreResult(0)
    unregistered: set[str] = set()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO camera_days (camera_id, day, heartbeats, first_ts, last_ts, captures)
               SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::timestamptz[], $5::timestamptz[],
                                    $6::int[])
               ON CONFLICT (camera_id, day) DO UPDATE SET
                   heartbeats = camera_days.heartbeats + EXCLUDED.heartbeats,
                   first_ts = LEAST(camera_days.first_ts, EXCLUDED.first_ts),
                   last_ts = GREATEST(camera_days.last_ts, EXCLUDED.last_ts),
                   captures = COALESCE(EXCLUDED.captures, camera_days.captures),
                   updated_at = now()""",
            [u.camera_id for u in updates], [u.day for u in updates], [u.heartbeats for u in updates],
            [_utc(u.first_ts) if u.first_ts is not None else None for u in updates],
            [_utc(u.last_ts) if u.last_ts is not None else None for u in updates],
            [u.captures for u in updates])
        owners = {r["camera_id"]: r["intersection_id"] for r in await conn.fetch(
            "SELECT camera_id, intersection_id FROM intersection_cameras WHERE camera_id = ANY($1::text[])",
            sorted({u.camera_id for u in updates}))}
        marks: dict[str, set[dt.date]] = {}
        for u in updates:
            owner = owners.get(u.camera_id)
            if owner is None:
                unregistered.add(u.camera_id)
            else:
                marks.setdefault(owner, set()).add(u.day)
        for owner, days in sorted(marks.items()):
            await mark_dirty(conn, owner, sorted(days))
    return StoreResult(len(updates), 0, tuple(sorted(unregistered)))
