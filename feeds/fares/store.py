"""Storing checked fare batches, and reading the daily roll-ups back.

A batch goes in as one transaction: COPY into a temporary table (PostgreSQL parses the rows, at
bare COPY speed), then one INSERT ... ON CONFLICT DO NOTHING that skips transaction ids already
stored and, in the same statement, adds exactly the rows it inserted to ``fare_daily``.  The
batch is acknowledged only after the commit.  Imports take an advisory lock so that two batches
sharing transaction ids never wait on each other's rows in opposite orders.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg
import pyarrow as pa
import pyarrow.csv as pacsv

from feeds.fares.parse import FareBatch

_LOCK_KEY = 0x66617265  # "fare"
_CHUNK = 4 << 20
_KEPT_REJECTIONS = 100


@dataclass(frozen=True, slots=True)
class StoreResult:
    batch_id: int
    rows: int
    inserted: int
    duplicates: int
    aggregates: int
    rejected: int

    def as_json(self) -> dict[str, int]:
        return {"batch_id": self.batch_id, "rows": self.rows, "transactions_new": self.inserted,
                "transactions_duplicate": self.duplicates, "aggregates": self.aggregates,
                "rejected": self.rejected}


@dataclass(frozen=True, slots=True)
class DailyRow:
    service_date: dt.date
    route_id: str
    channel: str
    boardings: int
    transactions: int
    amount_fen: int


def _csv_bytes(table: pa.Table, columns: Sequence[str]) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table.select(list(columns)), buf, pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        yield bytes(view[start:start + _CHUNK])


_TX_COLUMNS = ("transaction_id", "ts", "service_date", "route_id", "vehicle_id", "stop_id", "channel",
               "amount_fen")
_AGG_COLUMNS = ("line", "service_date", "route_id", "vehicle_id", "channel", "boardings", "source")


async def _store_transactions(conn: asyncpg.Connection, table: pa.Table, batch_id: int) -> int:
    await conn.execute(
        "CREATE TEMP TABLE fare_tx_stage (transaction_id text, ts double precision, service_date date, "
        "route_id text, vehicle_id text, stop_id text, channel text, amount_fen integer) ON COMMIT DROP"
    )
    # In id order, the inserts walk the primary key's pages in order instead of all over an index
    # far larger than the cache: several times faster once a table holds months of fares.
    ordered = table.sort_by("transaction_id")
    await conn.copy_to_table("fare_tx_stage", source=_chunks(_csv_bytes(ordered, _TX_COLUMNS)),
                             columns=list(_TX_COLUMNS), format="csv")
    inserted = await conn.fetchval(
        """WITH ins AS (
               INSERT INTO fare_transactions (transaction_id, ts, service_date, route_id, vehicle_id,
                                              stop_id, channel, amount_fen, batch_id)
               SELECT transaction_id, to_timestamp(ts), service_date, route_id, vehicle_id, stop_id,
                      channel, amount_fen, $1 FROM fare_tx_stage
               ON CONFLICT (transaction_id) DO NOTHING
               RETURNING service_date, route_id, vehicle_id, channel, amount_fen),
           daily AS (
               INSERT INTO fare_daily AS d (service_date, route_id, vehicle_id, channel, transactions,
                                            amount_fen)
               SELECT service_date, route_id, vehicle_id, channel, count(*), sum(amount_fen) FROM ins
               GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
               ON CONFLICT (service_date, route_id, vehicle_id, channel) DO UPDATE
               SET transactions = d.transactions + excluded.transactions,
                   amount_fen = d.amount_fen + excluded.amount_fen)
           SELECT count(*) FROM ins""",
        batch_id,
    )
    return int(inserted)


async def _store_aggregates(conn: asyncpg.Connection, table: pa.Table, batch_id: int) -> int:
    await conn.execute(
        "CREATE TEMP TABLE fare_agg_stage (line bigint, service_date date, route_id text, vehicle_id text, "
        "channel text, boardings integer, source text) ON COMMIT DROP"
    )
    await conn.copy_to_table("fare_agg_stage", source=_chunks(_csv_bytes(table, _AGG_COLUMNS)),
                             columns=list(_AGG_COLUMNS), format="csv")
    # The last record of a key in the batch wins, as a later record in a file corrects an earlier one.
    count = await conn.fetchval(
        """WITH latest AS (
               SELECT DISTINCT ON (service_date, route_id, vehicle_id, channel) *
               FROM fare_agg_stage ORDER BY service_date, route_id, vehicle_id, channel, line DESC),
           up AS (
               INSERT INTO fare_aggregates AS a (service_date, route_id, vehicle_id, channel, boardings,
                                                 source, batch_id)
               SELECT service_date, route_id, vehicle_id, channel, boardings, source, $1 FROM latest
               ORDER BY 1, 2, 3, 4
               ON CONFLICT (service_date, route_id, vehicle_id, channel) DO UPDATE
               SET boardings = excluded.boardings, source = excluded.source, batch_id = excluded.batch_id,
                   updated_at = now()
               RETURNING service_date, route_id, vehicle_id, channel, boardings),
           daily AS (
               INSERT INTO fare_daily AS d (service_date, route_id, vehicle_id, channel, aggregate_boardings)
               SELECT * FROM up ORDER BY 1, 2, 3, 4
               ON CONFLICT (service_date, route_id, vehicle_id, channel) DO UPDATE
               SET aggregate_boardings = excluded.aggregate_boardings
               RETURNING 1)
           SELECT count(*) FROM daily""",
        batch_id,
    )
    return int(count)


async def store_batch(pool: asyncpg.Pool, batch: FareBatch, source: str) -> StoreResult:
    """Store the good rows of ``batch`` and record the batch; returns once committed."""
    tx_rows = batch.transactions.num_rows
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        batch_id = await conn.fetchval(
            "INSERT INTO fare_batches (source, format) VALUES ($1, $2) RETURNING batch_id", source, batch.format
        )
        inserted = await _store_transactions(conn, batch.transactions, batch_id) if tx_rows else 0
        aggregates = await _store_aggregates(conn, batch.aggregates, batch_id) if batch.aggregates.num_rows else 0
        kept = [r.as_json() for r in batch.rejections[:_KEPT_REJECTIONS]]
        await conn.execute(
            "UPDATE fare_batches SET rows = $2, transactions_new = $3, transactions_duplicate = $4, "
            "aggregates = $5, rejected = $6, rejections = $7 WHERE batch_id = $1",
            batch_id, batch.rows, inserted, tx_rows - inserted, aggregates, batch.rejected, kept or None,
        )
    return StoreResult(batch_id, batch.rows, inserted, tx_rows - inserted, aggregates, batch.rejected)


async def rebuild_daily(pool: asyncpg.Pool, date_from: dt.date, date_to: dt.date) -> int:
    """Recompute the roll-ups of a date range from the stored transactions and aggregates (after
    rows were deleted or corrected by hand).  Returns the number of roll-up rows written."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute("DELETE FROM fare_daily WHERE service_date BETWEEN $1 AND $2", date_from, date_to)
        status = await conn.execute(
            """INSERT INTO fare_daily (service_date, route_id, vehicle_id, channel, transactions, amount_fen,
                                       aggregate_boardings)
               SELECT service_date, route_id, vehicle_id, channel, coalesce(t.n, 0), coalesce(t.amount, 0),
                      a.boardings
               FROM (SELECT service_date, route_id, vehicle_id, channel, count(*) AS n, sum(amount_fen) AS amount
                     FROM fare_transactions WHERE service_date BETWEEN $1 AND $2 GROUP BY 1, 2, 3, 4) t
               FULL JOIN (SELECT service_date, route_id, vehicle_id, channel, boardings FROM fare_aggregates
                          WHERE service_date BETWEEN $1 AND $2) a
               USING (service_date, route_id, vehicle_id, channel)""",
            date_from, date_to,
        )
    return int(status.split()[-1])


async def list_daily(conn: asyncpg.Pool | asyncpg.Connection, date_from: dt.date,
                     date_to: dt.date) -> list[DailyRow]:
    """Boardings per day, line and channel over a date range (inclusive)."""
    rows = await conn.fetch(
        "SELECT service_date, route_id, channel, sum(boardings)::bigint AS boardings, "
        "sum(transactions)::bigint AS transactions, sum(amount_fen)::bigint AS amount_fen FROM fare_daily "
        "WHERE service_date BETWEEN $1 AND $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        date_from, date_to,
    )
    return [DailyRow(r["service_date"], r["route_id"], r["channel"], int(r["boardings"]),
                     int(r["transactions"]), int(r["amount_fen"])) for r in rows]


async def list_batches(conn: asyncpg.Pool | asyncpg.Connection, limit: int = 50) -> list[dict[str, object]]:
    rows = await conn.fetch("SELECT * FROM fare_batches ORDER BY batch_id DESC LIMIT $1", limit)
    out = []
    for r in rows:
        item = dict(r)
        item["received_at"] = r["received_at"].isoformat()
        if isinstance(item.get("rejections"), str):
            item["rejections"] = json.loads(item["rejections"])
        out.append(item)
    return out
