"""GPS ingest benchmarks: GTFS-Realtime decode rate, and the durable pipeline against bare COPY.

    TRANSIT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python tests/bench/bench_ingest.py [--vehicles 20000] [--fixes 200000] [--skip-jt808]

1. **GTFS-RT VehiclePositions decode** (one core): a FeedMessage of N vehicles with every field a
   city feed carries (trip, route, start date and time, vehicle id and label, bearing, speed,
   odometer, timestamp) decoded to normalised ``Fix`` values, as the push endpoint and the poller
   do.  Baseline from the same run: the bare protobuf parse (``ParseFromString``) of the same bytes.
   Target >= 200,000 fixes/s.
2. **Pipeline stored fixes/s**: fixes submitted by 4 concurrent senders (5,000 per submission),
   validated, group-committed (COPY) and acknowledged, in a fresh database.  Baseline from the same
   run: one bare ``copy_records_to_table`` of the same rows (prepared beforehand, not timed) into
   the same table.  Also shown: the staged (duplicate-dropping) write path alone, and 1,000
   concurrent single-fix callers (the JT/T 808 server's pattern) with their acknowledgement
   latency.  The tracker downstream needs >= 20,000 fixes/s end to end.
3. The JT/T 808 figures from ``tests/bench/bench_ingest_jt808.py`` when that file is present
   (``--skip-jt808`` to leave them out).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from google.transit import gtfs_realtime_pb2  # noqa: E402

from feeds.gps.gtfsrt import decode_vehicle_positions  # noqa: E402
from feeds.gps.pipeline import IngestPipeline  # noqa: E402
from feeds.gps.store import COLUMNS, write_staged  # noqa: E402
from feeds.gps.validate import FixLimits, validate_fixes  # noqa: E402
from transit.core.clock import ManualClock  # noqa: E402
from transit.core.fix import Fix  # noqa: E402
from transit.db.migrate import apply_migrations  # noqa: E402
from transit.db.pool import create_pool  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW = 1_750_000_000.0


# --------------------------------------------------------------------------- GTFS-RT decode
def make_feed(vehicles: int) -> bytes:
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = int(NOW)
    for i in range(vehicles):
        e = message.entity.add(id=f"e{i}")
        v = e.vehicle
        v.trip.trip_id = f"K{i % 300}-{i:06d}"
        v.trip.route_id = f"K{i % 300}"
        v.trip.start_date = "20250615"
        v.trip.start_time = f"{6 + i % 14:02d}:{i % 60:02d}:00"
        v.vehicle.id = f"ZQ-{i:05d}"
        v.vehicle.label = f"鲁A·{i:05d}"
        v.position.latitude = 36.68 + (i % 997) * 1e-4
        v.position.longitude = 117.50 + (i % 991) * 1e-4
        v.position.bearing = float(i % 360)
        v.position.speed = float(i % 20)
        v.position.odometer = 100_000.0 + i
        v.timestamp = int(NOW) - i % 30
    return message.SerializeToString()


def _parse_and_read(data: bytes) -> int:
    """Parse, then read every field a fix needs into a tuple: what any Python decoder pays."""
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(data)
    rows = []
    for entity in message.entity:
        v = entity.vehicle
        p, t, d = v.position, v.trip, v.vehicle
        rows.append((d.id, v.timestamp, p.latitude, p.longitude, p.speed, p.bearing, p.odometer, t.trip_id,
                     t.route_id, t.start_date, t.start_time, d.label))
    return len(rows)


def bench_gtfsrt(vehicles: int = 20_000, rounds: int = 5) -> dict[str, Any]:
    data = make_feed(vehicles)
    decoded = decode_vehicle_positions(data, received_ts=NOW)
    assert len(decoded.fixes) == vehicles and not decoded.rejections
    limits = FixLimits()
    bare, read, ours, checked = [], [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        gtfs_realtime_pb2.FeedMessage().ParseFromString(data)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _parse_and_read(data)
        read.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        feed = decode_vehicle_positions(data, received_ts=NOW)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        validate_fixes(feed.fixes, NOW, limits)
        checked.append(time.perf_counter() - t0)
    return {"vehicles": vehicles, "bytes": len(data), "bare": vehicles / min(bare), "read": vehicles / min(read),
            "decode": vehicles / min(ours),
            "decode_validate": vehicles / (min(ours) + min(checked)), "target": 200_000}


def print_gtfsrt(r: dict[str, Any]) -> None:
    print(f"GTFS-RT VehiclePositions decode, one core ({r['vehicles']:,} vehicles, {r['bytes']:,} bytes)")
    print(f"  decode to normalised fixes: {r['decode']:>12,.0f} fixes/s   (target >= {r['target']:,})")
    print(f"  ... plus validation:        {r['decode_validate']:>12,.0f} fixes/s")
    print(f"  baseline bare protobuf parse:{r['bare']:>11,.0f} entities/s")
    print(f"  ratio decode/bare parse:    {r['decode'] / r['bare']:>12.3f}")
    print(f"  (parse + reading the same fields into tuples: {r['read']:,.0f}/s; "
          f"ratio decode/that {r['decode'] / r['read']:.2f})")


# --------------------------------------------------------------------------- pipeline
def make_fixes(n: int, vehicles: int, t0: float) -> list[Fix]:
    return [Fix(f"ZQ-{i % vehicles:05d}", t0 + i // vehicles, 36.68 + (i % 997) * 1e-5, 117.5 + (i % 991) * 1e-5,
                float(i % 20), float(i % 360), f"K1-{i // 5000}", "K1", None, None, None, None, None,
                "bench", True, NOW) for i in range(n)]


def as_records(fixes: list[Fix]) -> list[tuple[Any, ...]]:
    utc = dt.UTC
    received = dt.datetime.fromtimestamp(NOW, utc)
    return [(f.vehicle_id, dt.datetime.fromtimestamp(f.ts, utc), f.lat, f.lon, f.speed_mps, f.bearing_deg, f.trip_id,
             f.route_id, f.block_id, f.start_date, f.start_time, f.label, f.odometer_m, "bench", True, received)
            for f in fixes]


class _Sink:
    def __init__(self) -> None:
        self.n = 0

    def put_nowait(self, fixes: Any) -> None:
        self.n += len(fixes)

    async def get_batch(self, max_fixes: int, max_wait_s: float) -> list[Fix]:  # pragma: no cover
        raise NotImplementedError


async def bench_pipeline(server: str, n: int = 200_000, vehicles: int = 1000) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base, _, query = server.partition("?")
    dsn = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    out: dict[str, Any] = {"fixes": n, "vehicles": vehicles}
    try:
        conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
        await apply_migrations(conn)
        await conn.execute("SELECT positions_ensure_partition(d::date, 'Asia/Shanghai') "
                           "FROM generate_series('2025-06-14'::date, '2025-06-16'::date, '1 day') d")
        span = n // vehicles

        # Baseline: one bare COPY of prepared rows.
        records = as_records(make_fixes(n, vehicles, NOW - 3 * span))
        t0 = time.perf_counter()
        await conn.copy_records_to_table("positions", records=records, columns=COLUMNS)
        out["bare_copy"] = n / (time.perf_counter() - t0)

        # The staged (duplicate-dropping) path alone, same rows shifted in time, 20,000 a batch.
        records = as_records(make_fixes(n, vehicles, NOW - 2 * span))
        t0 = time.perf_counter()
        for i in range(0, n, 20_000):
            await write_staged(conn, records[i:i + 20_000])
        out["staged_sql"] = n / (time.perf_counter() - t0)
        await conn.close()

        pool = await create_pool(dsn, min_size=2, max_size=8)
        try:
            stream = _Sink()
            pipeline = IngestPipeline(pool, clock=ManualClock(NOW), registry=CollectorRegistry(),
                                      fix_stream=stream, buffer_max_fixes=max(200_000, n))
            await pipeline.start()
            fixes = make_fixes(n, vehicles, NOW - span)
            chunks = [fixes[i:i + 5000] for i in range(0, n, 5000)]

            async def sender(mine: list[list[Fix]]) -> int:
                stored = 0
                for chunk in mine:
                    stored += (await pipeline.submit(chunk, "bench")).stored
                return stored

            t0 = time.perf_counter()
            stored = sum(await asyncio.gather(*(sender(chunks[k::4]) for k in range(4))))
            out["pipeline"] = stored / (time.perf_counter() - t0)
            out["pipeline_stats"] = pipeline.statistics()
            assert stored == n, stored

            # 1,000 concurrent callers, one fix each per call (the JT/T 808 server's pattern).
            rounds = max(5, min(30, n // 10_000))
            latencies: list[float] = []

            async def caller(k: int) -> None:
                for r in range(rounds):
                    t = time.perf_counter()
                    result = await pipeline.submit([Fix(f"T{k:04d}", NOW - 60 + r, 36.7, 117.5)], "jt808")
                    latencies.append(time.perf_counter() - t)
                    assert result.stored == 1

            t0 = time.perf_counter()
            await asyncio.gather(*(caller(k) for k in range(1000)))
            out["callers_rate"] = 1000 * rounds / (time.perf_counter() - t0)
            latencies.sort()
            out["callers_p50_ms"] = statistics.median(latencies) * 1000
            out["callers_p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1000
            await pipeline.close()
            out["stored_total"] = await pool.fetchval("SELECT count(*) FROM positions")
        finally:
            await pool.close()
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return out


def print_pipeline(r: dict[str, Any]) -> None:
    stats = r["pipeline_stats"]
    print(f"Ingest pipeline, stored fixes/s ({r['fixes']:,} fixes of {r['vehicles']:,} vehicles, PostgreSQL)")
    print(f"  pipeline (validate, group commit, ack): {r['pipeline']:>10,.0f} fixes/s   "
          f"({stats['batches_direct']} direct + {stats['batches_staged']} staged batches)")
    print(f"  baseline bare COPY of the same rows:    {r['bare_copy']:>10,.0f} rows/s")
    print(f"  ratio pipeline/bare COPY:               {r['pipeline'] / r['bare_copy']:>10.2f}")
    print(f"  staged path alone (COPY temp + INSERT ON CONFLICT): {r['staged_sql']:>10,.0f} rows/s "
          f"(ratio to bare COPY {r['staged_sql'] / r['bare_copy']:.2f})")
    print(f"  1,000 concurrent single-fix callers:    {r['callers_rate']:>10,.0f} fixes/s, "
          f"ack p50 {r['callers_p50_ms']:.1f} ms, p99 {r['callers_p99_ms']:.1f} ms")
    print(f"  tracker needs >= 20,000 fixes/s end to end: pipeline headroom "
          f"{r['pipeline'] / 20_000:.1f}x")


# --------------------------------------------------------------------------- main
def _jt808_module() -> Any | None:
    """The JT/T 808 helper's benchmark, imported by module name (its client runs in a spawned
    process, which finds the function again by that name)."""
    here = Path(__file__).parent
    if not (here / "bench_ingest_jt808.py").exists():
        return None
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    return importlib.import_module("bench_ingest_jt808")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vehicles", type=int, default=20_000, help="entities in the GTFS-RT feed")
    parser.add_argument("--fixes", type=int, default=200_000, help="fixes through the pipeline")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-jt808", action="store_true", help="leave out the JT/T 808 figures")
    parser.add_argument("--jt808-terminals", type=int, default=1000)
    parser.add_argument("--jt808-seconds", type=float, default=20.0)
    args = parser.parse_args()
    server = os.environ.get("TRANSIT_TEST_DATABASE_URL", DEFAULT_SERVER)

    print_gtfsrt(bench_gtfsrt(args.vehicles))
    if not args.skip_pipeline:
        print()
        print_pipeline(asyncio.run(bench_pipeline(server, args.fixes)))
    if not args.skip_jt808:
        jt808 = _jt808_module()
        if jt808 is None:
            print("\nJT/T 808: tests/bench/bench_ingest_jt808.py is not here; skipped")
        else:
            print()
            jt808.print_decode(jt808.bench_decode())
            print()
            jt808.print_tcp(asyncio.run(jt808.bench_tcp(server, args.jt808_terminals, args.jt808_seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
