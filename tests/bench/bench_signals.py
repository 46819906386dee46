"""Indiana event import rate: parse + store, against a bare COPY of the same rows.

    TRANSIT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python tests/bench/bench_signals.py [--events 2000000] [--rounds 3]

Builds a district-sized log from the real ATSPM fixtures (signal 7115's and 6387's events,
repeated over more signals and hours with shifted times), in two spellings: the
``M/D/YYYY H:M:S.f`` export with unpadded fields and the ISO export with 7 decimals.  For each,
it times what ``transit signals import`` does (pyarrow parse, checks, binary COPY into the indexed
``signal_events`` table, dirty marks) and, as the baseline from the same run, a bare
``copy_records_to_table`` of the same rows, already parsed (not timed), into the same table.
Target: >= 200,000 events/s parsed and stored.  Also prints the time to recompute the coverage log
for the imported days.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
import uuid
import zoneinfo
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from signals.indiana import parse_event_log  # noqa: E402
from signals.intersections import Intersection  # noqa: E402
from signals.recompute import process_dirty  # noqa: E402
from signals.registry import upsert_intersections  # noqa: E402
from signals.store import store_events  # noqa: E402
from transit.db.migrate import apply_migrations  # noqa: E402
from transit.db.pool import create_pool  # noqa: E402
from transit.settings import load_settings  # noqa: E402

TZ = "Asia/Shanghai"
FIXTURES = ("ApproachVolumeTestLogs.csv", "7115TerminationData.csv", "TMCEventcodes.csv")


def _fixture_rows(folder: Path) -> list[tuple[float, int, int]]:
    """(seconds since the file's first event, code, param) of the real logs."""
    out: list[tuple[float, int, int]] = []
    for name in FIXTURES:
        parsed = parse_event_log((folder / name).read_bytes(), tz=TZ)
        base = parsed.ts_us.min()
        out += list(zip(((parsed.ts_us - base) / 1e6).tolist(), parsed.code.tolist(), parsed.param.tolist(),
                        strict=True))
    return out


def build_log(folder: Path, n_events: int, spelling: str) -> tuple[bytes, list[tuple[str, dt.datetime, int, int]]]:
    """A log of ``n_events`` rows and the same rows parsed (for the baseline)."""
    pattern = _fixture_rows(folder)
    zone = zoneinfo.ZoneInfo(TZ)
    start = dt.datetime(2026, 3, 2, 5, 0, tzinfo=zone)
    lines: list[str] = []
    records: list[tuple[str, dt.datetime, int, int]] = []
    span = max(t for t, _, _ in pattern) + 1
    rep = 0
    while len(records) < n_events:
        signal = f"ZQ{1000 + rep % 40}"
        offset = (rep // 40) * span
        for t, code, param in pattern:
            when = start + dt.timedelta(seconds=offset + t)
            if spelling == "us":
                text = (f"{when.month}/{when.day}/{when.year} {when.hour}:{when.minute}:{when.second}."
                        f"{when.microsecond // 100000}")
            else:
                text = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond:06d}0"
            lines.append(f"{signal},{text},{code},{param}")
            records.append((signal, when, code, param))
            if len(records) >= n_events:
                break
        rep += 1
    header = "Location Id,Timestamp,Event Code,Event Parameter\n" if spelling == "us" else ""
    body = ("\ufeff" if spelling == "iso" else "") + header + "\n".join(lines) + "\n"
    return body.encode(), records


async def _reset(pool: asyncpg.Pool) -> None:
    await pool.execute("TRUNCATE signal_events, signal_controller_days, signal_dirty_days, signal_coverage_days")


async def _ours(pool: asyncpg.Pool, data: bytes) -> tuple[float, int]:
    await _reset(pool)
    started = time.perf_counter()
    parsed = await asyncio.to_thread(parse_event_log, data, tz=TZ)
    result = await store_events(pool, parsed, TZ)
    seconds = time.perf_counter() - started
    assert not parsed.rejections and result.stored == len(parsed)
    return seconds, result.stored


async def _bare(pool: asyncpg.Pool, records: list[tuple[str, dt.datetime, int, int]]) -> float:
    await _reset(pool)
    async with pool.acquire() as conn:
        started = time.perf_counter()
        await conn.copy_records_to_table("signal_events", records=records,
                                         columns=["controller_id", "ts", "code", "param"])
        return time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "atspm")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent")
        return 0
    server = os.environ.get("TRANSIT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"bench_signals_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = server.rsplit("/", 1)[0] + f"/{name}"
    try:
        pool = await create_pool(dsn, 1, 4)
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        settings = load_settings(environ={}, overrides={"database.url": dsn})
        print(f"events per import: {args.events:,}  (rounds: {args.rounds}, median shown)")
        for spelling, title in (("us", "M/D/YYYY H:M:S.f, header"), ("iso", "ISO 7 decimals, BOM, no header")):
            data, records = build_log(args.data, args.events, spelling)
            ours, bare = [], []
            for _ in range(args.rounds):
                seconds, stored = await _ours(pool, data)
                assert stored == args.events
                ours.append(seconds)
                bare.append(await _bare(pool, records))
            ours_rate = args.events / statistics.median(ours)
            bare_rate = args.events / statistics.median(bare)
            print(f"[{title}] {len(data) / 1e6:.0f} MB")
            print(f"  signals import (parse+store): {ours_rate:>12,.0f} events/s  ({statistics.median(ours):.3f} s)"
                  f"   target >= 200,000: {'met' if ours_rate >= 200_000 else 'NOT met'}")
            print(f"  bare copy_records (baseline): {bare_rate:>12,.0f} events/s  ({statistics.median(bare):.3f} s)")
            print(f"  ratio import/bare:            {ours_rate / bare_rate:>12.2f}")
        # the coverage log for what was imported: register the signals, then recompute their days
        await _ours(pool, data)
        ids = sorted({r[0] for r in records})
        await upsert_intersections(pool, [(i, Intersection(f"I-{s}", s, 36.71, 117.53, "", True, (s,), ()))
                                          for i, s in enumerate(ids)])
        days = await pool.fetchval("SELECT count(*) FROM signal_dirty_days")
        started = time.perf_counter()
        await process_dirty(pool, settings, time.time())
        seconds = time.perf_counter() - started
        print(f"coverage log: {days} intersection-days recomputed in {seconds:.2f} s "
              f"({seconds / max(days, 1) * 1000:.0f} ms each, {args.events / max(days, 1):,.0f} events per day)")
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
