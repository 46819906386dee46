"""``transit import-gtfs``: load a GTFS zip or folder as a new feed version.

The whole feed is parsed and checked in memory first (pyarrow, in worker threads), so that every
error is named by file and line before PostgreSQL holds anything.  Each file is then streamed by
COPY into a fresh unindexed table ``gtfs_<file>_v<feed_id>`` while the whole-feed checks still
run; only if there are no errors do the tables get their keys, become partitions of the live
tables and the version become active, all in one transaction.  On any error the staging tables
are dropped and the previous version stays active.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pyarrow as pa
import pyarrow.csv as pacsv

from feeds.gtfs.checks import check_feed
from feeds.gtfs.errors import GtfsError, GtfsImportFailed, translate_unique_error
from feeds.gtfs.parse import ParsedFile, merge_parsed, read_file, split_rows
from feeds.gtfs.preflight import check_files
from feeds.gtfs.progress import Progress
from feeds.gtfs.source import GtfsSource
from feeds.gtfs.spec import BY_FILE, FILES, FileSpec
from transit.schedule.holder import FEED_CHANNEL

log = logging.getLogger(__name__)

COPY_BATCH_ROWS = 65536
#: Big files are parsed in pieces of this size so that COPY starts on the first while the rest
#: are parsed (measured best on the 13 MB Capital Metro stop_times: larger pieces start COPY
#: later, smaller ones cost more per piece).
PIECE_BYTES = 2 << 20


@dataclass(frozen=True, slots=True)
class ImportResult:
    feed_id: int
    counts: dict[str, int]
    seconds: float
    active: bool
    warnings: tuple[str, ...] = field(default=())
    #: Seconds spent in each stage (parse, copy, checks, activate), for the operator and benchmarks.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def staging_table(table: str, feed_id: int) -> str:
    return f"{table}_v{int(feed_id)}"


def failed(pieces: list[asyncio.Future[ParsedFile]]) -> bool:
    return any(p.done() and not p.cancelled() and p.exception() is None and p.result().errors for p in pieces)


async def _csv_batches(pieces: list[asyncio.Future[ParsedFile]], progress: Progress | None,
                       ) -> AsyncIterator[bytes]:
    """CSV for COPY, piece by piece as each finishes parsing: PostgreSQL stores one piece while
    the next is parsed.  A piece with errors is not sent (the import fails anyway)."""
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for future in pieces:
        parsed = await future
        if not parsed.errors and parsed.rows and not failed(pieces):
            for batch in pa.table(parsed.columns).to_batches(max_chunksize=COPY_BATCH_ROWS):
                buf = io.BytesIO()
                await asyncio.to_thread(pacsv.write_csv, batch, buf, options)
                yield buf.getvalue()
        if progress is not None:
            progress.advance(1)


async def _create_partition(conn: asyncpg.Connection, spec: FileSpec, feed_id: int) -> None:
    # The new version's rows go straight into their own partition: readers only ever ask for the
    # active feed_id, so a version being loaded is invisible until activation, and there is no
    # ATTACH (and no validation scan) to pay for afterwards.
    table = staging_table(spec.table, feed_id)
    await conn.execute(
        f"CREATE TABLE {table} PARTITION OF {spec.table} FOR VALUES IN ({int(feed_id)});"
        f"ALTER TABLE {table} ALTER COLUMN feed_id SET DEFAULT {int(feed_id)};"
    )


async def _copy_pieces(conn: asyncpg.Connection, spec: FileSpec, columns: list[str],
                       pieces: list[asyncio.Future[ParsedFile]], feed_id: int, progress: Progress | None) -> None:
    table = staging_table(spec.table, feed_id)
    try:
        await conn.copy_to_table(table, source=_csv_batches(pieces, progress), columns=columns, format="csv")
    except asyncpg.UniqueViolationError as exc:
        raise GtfsImportFailed([translate_unique_error(exc, table)], feed_id) from None
    except asyncpg.PostgresError as exc:
        raise GtfsImportFailed([GtfsError(spec.file, None, f"could not be stored: {exc}")], feed_id) from None


async def _drop_staging(conn: asyncpg.Connection, feed_id: int) -> None:
    for spec in FILES:
        await conn.execute(f"DROP TABLE IF EXISTS {staging_table(spec.table, feed_id)}")


async def _record_failure(conn: asyncpg.Connection, feed_id: int, errors: list[GtfsError]) -> None:
    await _drop_staging(conn, feed_id)
    await conn.execute(
        "UPDATE feed_versions SET status = 'failed', errors = $2 WHERE feed_id = $1",
        feed_id, [e.as_json() for e in errors[:200]],
    )


async def cleanup_abandoned(conn: asyncpg.Connection) -> None:
    """Drop staging tables left by an import that was killed half-way."""
    rows = await conn.fetch("SELECT feed_id FROM feed_versions WHERE status = 'loading'")
    for row in rows:
        await _record_failure(conn, row["feed_id"], [GtfsError("(import)", None, "interrupted")])


async def prune_versions(conn: asyncpg.Connection, keep: int) -> list[int]:
    """Drop the data of all but the newest ``keep`` superseded versions."""
    rows = await conn.fetch(
        "SELECT feed_id FROM feed_versions WHERE status = 'superseded' AND archive IS NOT NULL "
        "ORDER BY feed_id DESC OFFSET $1", keep,
    )
    dropped = []
    for row in rows:
        async with conn.transaction():
            await _drop_staging(conn, row["feed_id"])
            await conn.execute("UPDATE feed_versions SET archive = NULL WHERE feed_id = $1", row["feed_id"])
        dropped.append(row["feed_id"])
    return dropped


async def _check_when_parsed(pieces: dict[str, list[asyncio.Future[ParsedFile]]]) -> list[GtfsError]:
    parsed = {name: merge_parsed([await p for p in ps]) for name, ps in pieces.items()}
    if any(p.errors for p in parsed.values()):
        return []  # reported from the pieces themselves
    return await asyncio.to_thread(check_feed, parsed)


def _db_columns(spec: FileSpec, header: list[str]) -> list[str]:
    return [spec.db_column(c) for c in spec.columns if c in header]


def _start_parsing(source: GtfsSource, headers: dict[str, list[str]]) -> dict[str, list[asyncio.Future[ParsedFile]]]:
    """Parse every file in worker threads; big files in pieces, so COPY can start on the first."""
    pieces: dict[str, list[asyncio.Future[ParsedFile]]] = {}
    # One piece at a time, in order: PostgreSQL needs a core of its own for the COPY.
    gate = asyncio.Semaphore(1)

    async def parse(spec: FileSpec, chunk: bytes, header: list[str], first: int) -> ParsedFile:
        async with gate:
            return await asyncio.to_thread(read_file, spec, chunk, header, first)

    for spec in sorted((s for s in FILES if s.file in headers), key=lambda s: -source.size(s.file)):
        data = source.read(spec.file)
        header = headers[spec.file]
        pieces[spec.file] = [
            asyncio.ensure_future(parse(spec, chunk, header, first))
            for first, chunk in split_rows(data, PIECE_BYTES)
        ]
    return pieces


async def import_gtfs(
    pool: asyncpg.Pool,
    path: Path,
    *,
    activate: bool = True,
    progress: Progress | None = None,
    keep_versions: int = 2,
) -> ImportResult:
    """Import ``path`` as a new feed version; raise :class:`GtfsImportFailed` naming every error."""
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(stage: str) -> None:
        timings[stage] = round(time.perf_counter() - started - sum(timings.values()), 4)

    with GtfsSource(Path(path)) as source:
        errors, headers, timezone = check_files(source)
        # zipping a folder is slow; it runs beside everything else (zlib releases the GIL)
        archiving = asyncio.ensure_future(asyncio.to_thread(source.archive))
        pieces = {} if errors else _start_parsing(source, headers)
    async with pool.acquire() as conn:
        await cleanup_abandoned(conn)
        feed_id = await conn.fetchval(
            "INSERT INTO feed_versions (source, status, agency_timezone) VALUES ($1, 'loading', $2) "
            "RETURNING feed_id",
            str(path), timezone,
        )
        if errors:
            await asyncio.wait([archiving])
            await _record_failure(conn, feed_id, errors)
            raise GtfsImportFailed(errors, feed_id)
        if progress is not None:
            progress.start(sum(len(ps) for ps in pieces.values()))
        # the whole-feed checks start as soon as parsing ends, while COPY still runs
        checks = asyncio.ensure_future(_check_when_parsed(pieces))

        async def copy(name: str) -> None:
            spec = BY_FILE[name]
            async with pool.acquire() as own:  # files load side by side on their own connections
                await _create_partition(own, spec, feed_id)
                await _copy_pieces(own, spec, _db_columns(spec, headers[name]), pieces[name], feed_id, progress)

        async def store_archive() -> None:
            archive, sha = await archiving
            async with pool.acquire() as own:
                await own.execute("UPDATE feed_versions SET archive = $2, sha256 = $3 WHERE feed_id = $1",
                                  feed_id, archive, sha)

        parsed: dict[str, ParsedFile] = {}
        try:
            if progress is not None:
                progress.label("loading")
            copies = [asyncio.ensure_future(copy(name)) for name in pieces]
            copies.append(asyncio.ensure_future(store_archive()))
            try:
                await asyncio.gather(*copies)
            finally:
                await asyncio.wait(copies)
            parsed = {name: merge_parsed([await p for p in ps]) for name, ps in pieces.items()}
            lap("parse+copy")
            errors = [e for p in parsed.values() for e in p.errors]
            if errors:
                raise GtfsImportFailed(errors, feed_id)
            if progress is not None:
                progress.label("checking")
            errors = await checks
            lap("checks")
            if errors:
                raise GtfsImportFailed(errors, feed_id)
            if progress is not None:
                progress.label("activating")
            counts = {p.spec.name: p.rows for p in parsed.values()}
            async with conn.transaction():
                await conn.execute("UPDATE feed_versions SET counts = $2 WHERE feed_id = $1", feed_id, counts)
                if activate:
                    await activate_version(conn, feed_id)
        except BaseException as exc:
            await asyncio.wait([archiving, checks, *(p for ps in pieces.values() for p in ps)])
            failure = exc.errors if isinstance(exc, GtfsImportFailed) else [
                GtfsError("(import)", None, f"failed: {exc!r}")]
            worded = checks.result() if not checks.cancelled() and checks.exception() is None else []
            if isinstance(exc, GtfsImportFailed) and worded and worded != failure:
                # the checks name a duplicate with its lines; COPY's unique violation cannot
                await _record_failure(conn, feed_id, worded)
                raise GtfsImportFailed(worded, feed_id) from None
            await _record_failure(conn, feed_id, failure)
            raise
        finally:
            if progress is not None:
                progress.finish()
        lap("activate")
        if activate:
            await prune_versions(conn, keep_versions)
    warnings = _warnings(parsed)
    elapsed = time.perf_counter() - started
    log.info("GTFS imported", extra={"feed_id": feed_id, "counts": counts, "seconds": round(elapsed, 3)})
    return ImportResult(feed_id, counts, elapsed, activate, tuple(warnings), timings)


async def activate_version(conn: asyncpg.Connection, feed_id: int) -> None:
    """Make ``feed_id`` the active version (call inside a transaction) and tell running services."""
    status = await conn.fetchval("SELECT status FROM feed_versions WHERE feed_id = $1", feed_id)
    if status is None:
        raise LookupError(f"feed version {feed_id} does not exist")
    if status not in ("loading", "superseded", "active"):
        raise ValueError(f"feed version {feed_id} is {status} and cannot be activated")
    await conn.execute("UPDATE feed_versions SET status = 'superseded' WHERE status = 'active'")
    await conn.execute(
        "UPDATE feed_versions SET status = 'active', activated_at = now() WHERE feed_id = $1", feed_id
    )
    await conn.execute("SELECT pg_notify($1, $2)", FEED_CHANNEL, str(feed_id))


def _warnings(parsed: dict[str, ParsedFile]) -> list[str]:
    """Things worth telling the operator that do not make the feed invalid."""
    trips, stop_times = parsed.get("trips.txt"), parsed.get("stop_times.txt")
    if trips is None or stop_times is None:
        return []
    import pyarrow.compute as pc

    used = pc.is_in(trips.columns["trip_id"], value_set=pc.unique(stop_times.columns["trip_id"]))
    idle = trips.rows - pc.sum(pc.cast(used, pa.int64())).as_py()
    return [f"{idle} trips have no stop_times and will never run"] if idle else []


async def active_feed_id(conn: asyncpg.Connection | asyncpg.Pool) -> int | None:
    value = await conn.fetchval("SELECT feed_id FROM feed_versions WHERE status = 'active'")
    return int(value) if value is not None else None


__all__ = [
    "FEED_CHANNEL", "GtfsError", "GtfsImportFailed", "ImportResult", "activate_version",
    "active_feed_id", "import_gtfs", "prune_versions",
]
