"""Writing batches of fixes into the ``positions`` table (migration 0100).

Two write paths, both one transaction per batch:

* **direct**: ``COPY`` straight into ``positions``.  Bare COPY speed, but one existing
  (vehicle, ts) aborts it with a unique violation.  The pipeline takes it only for batches it
  can show are new (every fix newer than anything this process wrote for that vehicle).
* **staged**: ``COPY`` into a temporary table, then ``INSERT ... SELECT ... ON CONFLICT DO
  NOTHING``.  About two thirds of the direct rate (measured by tests/bench/bench_ingest.py), but
  it drops duplicates, including ones stored before a restart, and can name them.

Partitions (one per local day) are created before the batch's transaction, by the SQL function
``positions_ensure_partition`` so that no value is ever formatted into SQL here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import asyncpg

from feeds.gps.batching import Record

#: Column order of ``positions``; records handed to the COPY functions follow it.
COLUMNS = (
    "vehicle_id", "ts", "lat", "lon", "speed_mps", "bearing_deg", "trip_id", "route_id", "block_id",
    "start_date", "start_time", "label", "odometer_m", "source", "live", "received_at",
)
STAGE_TABLE = "positions_stage"


async def ensure_partitions(conn: asyncpg.Connection, days: Iterable[dt.date], timezone: str) -> list[str]:
    """Create the daily partitions for ``days`` (local dates in ``timezone``) if missing."""
    rows = await conn.fetch(
        "SELECT positions_ensure_partition(d, $2) AS name FROM unnest($1::date[]) AS d",
        sorted(set(days)), timezone,
    )
    return [r["name"] for r in rows]


async def write_direct(conn: asyncpg.Connection, records: Sequence[Record]) -> None:
    """COPY into ``positions``; raises asyncpg.UniqueViolationError if any key exists.

    A single COPY in autocommit mode is its own transaction: when it returns, the rows are
    committed (and durable, with synchronous_commit on).
    """
    await conn.copy_records_to_table("positions", records=records, columns=COLUMNS)


async def write_staged(
    conn: asyncpg.Connection, records: Sequence[Record], find_duplicates: bool = True
) -> tuple[int, list[tuple[str, dt.datetime]]]:
    """COPY into the staging table, move what is new into ``positions``, commit.

    Returns (rows inserted, keys that already existed).  The keys are found only when something
    was skipped and ``find_duplicates`` is set: rows this transaction inserted carry its xid in
    ``xmin``; a staged key whose stored row has another xmin was there before.
    """
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS positions_stage (LIKE positions) ON COMMIT DELETE ROWS"
    )
    duplicates: list[tuple[str, dt.datetime]] = []
    async with conn.transaction():
        await conn.copy_records_to_table(STAGE_TABLE, records=records, columns=COLUMNS)
        status = await conn.execute(
            "INSERT INTO positions SELECT * FROM positions_stage ON CONFLICT DO NOTHING"
        )
        inserted = int(status.rsplit(" ", 1)[-1])
        if inserted < len(records) and find_duplicates:
            rows = await conn.fetch(
                """SELECT s.vehicle_id, s.ts FROM positions_stage s
                    JOIN positions p ON p.vehicle_id = s.vehicle_id AND p.ts = s.ts
                    WHERE p.xmin <> pg_current_xact_id()::xid"""
            )
            duplicates = [(r["vehicle_id"], r["ts"]) for r in rows]
    return inserted, duplicates
