"""Fare import and monthly report benchmark: a district of 1,000 buses for one month.

    TRANSIT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python tests/bench/bench_reports.py [--buses 1000] [--boardings 100] [--month 2026-10]

Builds, in a scratch database: a network of 100 lines (10 buses each, trips every 10 minutes
06:00-22:00 both ways, about 19,000 trips a day), a month of served real-time predictions for
it, 300 stop boards and 100 key intersections, and one month of fares for every bus (about 3
million transactions, plus cash fare-box totals).  Prints, each beside its baseline:

1. the fare import rate (CSV file -> decoded, checked, deduplicated, rolled up, committed),
   against a bare COPY of the same file into an unindexed table of text columns;
2. the time to produce the monthly report (all indicators, target < 2 s), against computing
   only the payment figures straight from the raw transactions without the daily roll-ups.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from feeds.fares.importer import import_file, limits_from  # noqa: E402
from feeds.fares.simulate import simulate_fares  # noqa: E402
from feeds.gtfs import import_gtfs  # noqa: E402
from transit.db.migrate import apply_migrations  # noqa: E402
from transit.db.pool import create_pool  # noqa: E402
from transit.reports.inputs import ReportSource  # noqa: E402
from transit.reports.period import parse_period  # noqa: E402
from transit.reports.service import ReportService  # noqa: E402
from transit.schedule.load import load_schedule  # noqa: E402
from transit.settings import load_settings  # noqa: E402

LINES = 100
STOPS_PER_LINE = 20
HEADWAY_S = 600


def write_network(folder: Path, lines: int) -> None:
    """A synthetic district: ``lines`` straight lines of 20 stops, every 10 minutes both ways."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text("agency_id,agency_name,agency_url,agency_timezone\n"
                                       "ZQ,章丘公交,https://example.invalid,Asia/Shanghai\n")
    (folder / "calendar.txt").write_text("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                                         "start_date,end_date\nALL,1,1,1,1,1,1,1,20260101,20271231\n")
    stops = ["stop_id,stop_name,stop_lat,stop_lon"]
    routes = ["route_id,agency_id,route_short_name,route_long_name,route_type"]
    trips = ["route_id,service_id,trip_id,direction_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    for line in range(lines):
        lat0, lon0 = 36.60 + (line % 10) * 0.02, 117.40 + (line // 10) * 0.03
        ids = [f"S{line}_{k}" for k in range(STOPS_PER_LINE)]
        stops += [f"{sid},{line}路{k}站,{lat0 + k * 0.001:.5f},{lon0 + k * 0.0012:.5f}" for k, sid in enumerate(ids)]
        routes.append(f"L{line},ZQ,{line + 1},{line + 1}路,3")
        for direction in (0, 1):
            order = ids if direction == 0 else ids[::-1]
            for n, start in enumerate(range(6 * 3600, 22 * 3600, HEADWAY_S)):
                trip = f"L{line}_{direction}_{n}"
                trips.append(f"L{line},ALL,{trip},{direction}")
                for seq, sid in enumerate(order):
                    t = start + seq * 120
                    hms = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
                    times.append(f"{trip},{hms},{hms},{sid},{seq + 1}")
    for name, rows in (("stops.txt", stops), ("routes.txt", routes), ("trips.txt", trips),
                       ("stop_times.txt", times)):
        (folder / name).write_text("\n".join(rows) + "\n", encoding="utf-8")


async def fill_served(pool: asyncpg.Pool, index: object, days: list[dt.date], rng: np.random.Generator) -> int:
    """Every scheduled trip of the month served, except a few lines on some days."""
    trip_ids = list(index.trip_ids)  # type: ignore[attr-defined]
    route_of = [index.route_ids[r] for r in index.trip_route]  # type: ignore[attr-defined]
    records = []
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for day in days:
        keep = rng.random(len(trip_ids)) < 0.985
        records += [(day, trip_ids[i], "", route_of[i], stamp, stamp) for i in np.flatnonzero(keep)]
    await pool.copy_records_to_table("served_trips", records=records, columns=[
        "service_date", "trip_id", "start_time", "route_id", "first_served_at", "last_served_at"])
    return len(records)


async def add_boards_and_intersections(pool: asyncpg.Pool, index: object, now: float) -> str:
    notes = []
    try:
        from display.board_spec import BoardSpec
        from display.registry import save_boards

        specs = [BoardSpec(board_id=f"B{i}", stop_ids=(index.stop_ids[i * 3],), route_ids=(), rows=4,  # type: ignore[attr-defined]
                           cols=32, encoding="GB2312", languages="zh", key=None, poll_interval_s=15.0)
                 for i in range(min(300, len(index.stop_ids) // 3))]  # type: ignore[attr-defined]
        await save_boards(pool, specs, now - 60 * 86400)
        notes.append(f"{len(specs)} boards")
    except ImportError:
        notes.append("no board registry")
    try:
        from signals.intersections import Intersection
        from signals.registry import upsert_intersections

        items = [Intersection(f"X{i}", f"路口{i}", 36.6 + i * 0.001, 117.4, "明水", True, (f"C{i}",), (f"K{i}",))
                 for i in range(100)]
        await upsert_intersections(pool, list(enumerate(items)))
        notes.append("100 key intersections")
    except ImportError:
        notes.append("no signals package")
    return ", ".join(notes)


async def bare_copy(pool: asyncpg.Pool, path: Path) -> tuple[int, float]:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE copy_baseline (transaction_id text, time text, line text, vehicle text, "
                           "stop_id text, channel text, amount_fen text)")
        started = time.perf_counter()
        status = await conn.copy_to_table("copy_baseline", source=path, format="csv", header=True)
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE copy_baseline")
    return int(status.split()[-1]), elapsed


async def raw_payment_totals(pool: asyncpg.Pool, first: dt.date, last: dt.date) -> float:
    started = time.perf_counter()
    await pool.fetch("SELECT route_id, channel, count(*) FROM fare_transactions WHERE service_date BETWEEN $1 AND $2 "
                     "GROUP BY 1, 2", first, last)
    return time.perf_counter() - started


async def rolled_payment_totals(pool: asyncpg.Pool, first: dt.date, last: dt.date) -> float:
    from feeds.fares.store import list_daily

    started = time.perf_counter()
    await list_daily(pool, first, last)
    return time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buses", type=int, default=1000)
    parser.add_argument("--boardings", type=float, default=100.0, help="boardings per bus and weekday")
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--runs", type=int, default=3, help="report runs (the median is printed)")
    args = parser.parse_args()

    server = os.environ.get("TRANSIT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"bench_reports_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = server.rsplit("/", 1)[0] + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    try:
        pool = await create_pool(dsn, 1, 4)
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        settings = load_settings(environ={}, overrides={"database.url": dsn})
        first = dt.date.fromisoformat(args.month + "-01")
        period_now = dt.datetime.combine(first + dt.timedelta(days=40), dt.time(12), settings.tz).timestamp()
        period = parse_period(args.month, None, now=period_now, timezone=settings.timezone)
        days = [period.date_from + dt.timedelta(days=i) for i in range(period.days)]
        lines = max(1, args.buses // 10)

        t = time.perf_counter()
        write_network(tmp / "gtfs", lines)
        await import_gtfs(pool, tmp / "gtfs")
        index = await load_schedule(pool)
        assert index is not None
        rng = np.random.default_rng(2026)
        served = await fill_served(pool, index, days, rng)
        extras = await add_boards_and_intersections(pool, index, period_now)
        print(f"setup: {lines} lines, {index.n_trips:,} trips a day, {served:,} served trip instances, {extras} "
              f"({time.perf_counter() - t:.1f} s)")

        t = time.perf_counter()
        vehicles = {f"L{line}": [f"V{line}-{k}" for k in range(args.buses // lines)] for line in range(lines)}
        stops = {f"L{line}": [f"S{line}_{k}" for k in range(STOPS_PER_LINE)] for line in range(lines)}
        export = simulate_fares(rng, days, vehicles, args.boardings, settings.timezone, stops=stops, id_prefix="B")
        fares = tmp / "fares.csv"
        fares.write_bytes(export.transactions_csv)
        cash = tmp / "cash.csv"
        cash.write_bytes(export.aggregates_csv)
        size_mb = len(export.transactions_csv) / 1e6
        del export
        print(f"generated {args.month}: {args.buses} buses, fares file {size_mb:.0f} MB "
              f"({time.perf_counter() - t:.1f} s)")

        copied, copy_s = await bare_copy(pool, fares)
        limits = limits_from(settings, period_now)
        summary = await import_file(pool, fares, limits)
        cash_summary = await import_file(pool, cash, limits)
        assert summary.rejected == 0 and summary.inserted == copied, (summary.rejected, summary.inserted, copied)
        copy_rate = copied / copy_s
        rate = summary.rows / summary.seconds
        print(f"\n1. fare import: {summary.rows:,} transactions in {summary.seconds:.1f} s = {rate:,.0f} rows/s "
              f"(+ {cash_summary.aggregates:,} cash fare-box totals in {cash_summary.seconds:.2f} s)")
        print(f"   baseline bare COPY of the same file: {copied:,} rows in {copy_s:.1f} s = {copy_rate:,.0f} rows/s")
        print(f"   ratio import / bare COPY: {rate / copy_rate:.2f}")
        again = await import_file(pool, fares, limits)
        print(f"   the same file again: {again.duplicates:,} already stored, {again.inserted} new, "
              f"{again.rows / again.seconds:,.0f} rows/s")

        await pool.execute("VACUUM ANALYZE")
        source = ReportSource(pool, settings, index)
        service = ReportService()
        times = []
        report = None
        for _ in range(max(1, args.runs)):
            started = time.perf_counter()
            report = await service.report(source, period)
            times.append(time.perf_counter() - started)
        assert report is not None
        raw_s = min([await raw_payment_totals(pool, period.date_from, period.date_to) for _ in range(2)])
        rolled_s = min([await rolled_payment_totals(pool, period.date_from, period.date_to) for _ in range(2)])
        report_s = statistics.median(times)
        print(f"\n2. monthly report ({period.label}, all indicators): {report_s:.3f} s median of {len(times)} "
              f"(first {times[0]:.3f} s), target < 2 s: {'met' if report_s < 2 else 'NOT met'}")
        print(f"   baseline: payment totals (line x channel) straight from the raw transactions: {raw_s:.3f} s, "
              f"from the daily roll-ups: {rolled_s:.3f} s (ratio {rolled_s / raw_s:.2f})")
        parts = ", ".join(f"{k} {v:.3f}" for k, v in service.last_timings.items())
        print(f"   where the time goes (s): {parts}")
        figures = ", ".join(f"{i.ident} {i.numerator:,}/{i.denominator:,}" for i in report.indicators)
        print(f"   figures: {figures}")
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
