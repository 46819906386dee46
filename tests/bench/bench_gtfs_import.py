"""GTFS import rate on the rebuilt Capital Metro feed (about 413,000 stop_times).

    TRANSIT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python tests/bench/bench_gtfs_import.py [--rounds 3]

Prints the import's rows/s (parse, whole-feed checks, COPY, keys, activation: everything
`transit import-gtfs` does) and, as the baseline from the same run, a bare
``copy_records_to_table`` of the same rows into unindexed tables (rows prepared beforehand, not
timed).  The figure is the ratio of the two rates; the target is >= 0.5.  It also prints the cold
start of the schedule index on that feed (what `serve` does before it is ready).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from feeds.gtfs import import_gtfs  # noqa: E402
from feeds.gtfs.capmetro import convert  # noqa: E402
from transit.db.migrate import apply_migrations  # noqa: E402
from transit.db.pool import create_pool  # noqa: E402
from transit.schedule.load import load_schedule  # noqa: E402


def _rows(folder: Path) -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    out = {}
    for path in sorted(folder.glob("*.txt")):
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            out[path.stem] = (header, [tuple(r) for r in reader])
    return out


async def _bare_copy(dsn: str, rows: dict[str, tuple[list[str], list[tuple[str, ...]]]]) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        for name, (header, _) in rows.items():
            cols = ", ".join(f'"{c}" text' for c in header)
            await conn.execute(f'DROP TABLE IF EXISTS bare_{name}; CREATE TABLE bare_{name} ({cols})')
        started = time.perf_counter()
        for name, (header, records) in rows.items():
            await conn.copy_records_to_table(f"bare_{name}", records=records, columns=header)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "capmetro")
    args = parser.parse_args()
    server = os.environ.get("TRANSIT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent")
        return 0
    name = f"bench_gtfs_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = server.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            feed = Path(tmp) / "capmetro"
            convert(args.data, feed)
            rows = _rows(feed)
            total = sum(len(r) for _, r in rows.values())
            pool = await create_pool(dsn, 1, 4)
            async with pool.acquire() as conn:
                await apply_migrations(conn)
            ours, bare, cold = [], [], []
            for _ in range(args.rounds):
                result = await import_gtfs(pool, feed, keep_versions=0)
                ours.append(result.seconds)
                bare.append(await _bare_copy(dsn, rows))
                started = time.perf_counter()
                index = await load_schedule(pool)
                cold.append(time.perf_counter() - started)
                assert index is not None and len(index.st_trip) == len(rows["stop_times"][1])
            await pool.close()
        ours_rate = total / statistics.median(ours)
        bare_rate = total / statistics.median(bare)
        print(f"rows per import: {total:,} (stop_times {len(rows['stop_times'][1]):,})")
        print(f"import-gtfs:            {ours_rate:>12,.0f} rows/s  (median of {args.rounds}: "
              f"{statistics.median(ours):.3f} s)")
        print(f"bare copy_records:      {bare_rate:>12,.0f} rows/s  ({statistics.median(bare):.3f} s)")
        print(f"ratio import/bare:      {ours_rate / bare_rate:>12.2f}   (target >= 0.5)")
        print(f"schedule index build:   {statistics.median(cold):>12.3f} s  (cold start budget 3 s)")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
