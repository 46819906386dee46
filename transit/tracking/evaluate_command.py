"""``transit evaluate --gtfs PATH --avl FILE --out DIR``: replay recorded AVL through the real
engine and score its predictions against the arrivals it detects.

The GTFS is imported into a throwaway database on the configured server (TRANSIT_DATABASE_URL,
or the embedded one in the data directory), which is dropped afterwards; the replay itself runs
in memory on a simulated clock (see transit/prediction/evaluate.py).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from transit.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate", help="replay an AVL file through the tracker and score its predictions",
        description="Replay recorded GPS (AVL CSV: WMATA/TheTransitClock or Capital Metro layout, or any "
        "layout with --columns) through the real tracking and prediction engine on a simulated clock. "
        "Writes predictions.csv and arrivals.csv into --out and prints the accuracy per horizon bucket "
        "against a schedule-only baseline. File formats: docs/evaluate.md.")
    p.add_argument("--gtfs", type=Path, required=True, help="GTFS zip or folder the AVL was recorded against")
    p.add_argument("--avl", type=Path, required=True, help="AVL CSV file (optionally .gz)")
    p.add_argument("--out", type=Path, required=True, help="folder for predictions.csv and arrivals.csv")
    p.add_argument("--mode", choices=("given", "route", "none"), default="given",
                   help="what the fixes keep of their assignment: trip/block ids as recorded (given), the "
                   "line only (route), or nothing (none) — the tracker infers the rest")
    p.add_argument("--timezone", help="zone of AVL times written without an offset (default: the feed's)")
    p.add_argument("--columns", help="column mapping for other layouts, e.g. vehicle_id=bus,time=when,lat=y,lon=x")
    p.add_argument("--batch-s", type=float, default=1.0, help="simulated seconds per batch (default 1)")
    p.add_argument("--stale-s", type=float,
                   help="silence after which a vehicle leaves the snapshot (default: the setting, or 3x the "
                   "file's median report interval if that is longer)")
    p.set_defaults(handler=evaluate)


async def evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncpg
    import numpy as np

    from feeds.gps.replay import AvlFormatError, load_avl, parse_column_mapping
    from feeds.gtfs import GtfsImportFailed, import_gtfs
    from transit.app.runtime import database
    from transit.db.migrate import apply_migrations
    from transit.db.pool import create_pool
    from transit.prediction.accuracy import format_table
    from transit.prediction.evaluate import (
        improvement_lines,
        replay,
        strip_fixes,
        write_arrivals,
        write_predictions,
    )
    from transit.schedule.load import load_schedule
    from transit.tracking.tracker import TrackerParams

    for path, what in ((args.gtfs, "--gtfs"), (args.avl, "--avl")):
        if not path.exists():
            print(f"transit evaluate: {what} {path} does not exist", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    async with database(settings) as db:
        name = f"transit_eval_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(db.dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')  # name is ours: letters, digits, _
        finally:
            await admin.close()
        dsn = _with_database(db.dsn, name)
        try:
            conn = await asyncpg.connect(dsn)
            try:
                await apply_migrations(conn)
            finally:
                await conn.close()
            pool = await create_pool(dsn, 1, 4)
            try:
                try:
                    result = await import_gtfs(pool, args.gtfs)
                except (GtfsImportFailed, ValueError, FileNotFoundError) as exc:
                    print(f"transit evaluate: the GTFS could not be imported:\n{exc}", file=sys.stderr)
                    return 1
                index = await load_schedule(pool, result.feed_id)
            finally:
                await pool.close()
        finally:
            admin = await asyncpg.connect(db.dsn)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
    if index is None:
        print("transit evaluate: the GTFS has no active feed version", file=sys.stderr)
        return 1
    try:
        avl = load_avl(args.avl, timezone=args.timezone or index.timezone,
                       columns=parse_column_mapping(args.columns) if args.columns else None)
    except (AvlFormatError, ValueError) as exc:
        print(f"transit evaluate: {exc}", file=sys.stderr)
        return 1
    for rej in avl.rejections[:10]:
        print(f"  skipped {rej.detail}", file=sys.stderr)
    if len(avl.rejections) > 10:
        print(f"  ... and {len(avl.rejections) - 10} more rows skipped", file=sys.stderr)
    fixes = strip_fixes(avl.fixes, args.mode)
    stale = args.stale_s or max(settings.tracking.vehicle_stale_s, 3.0 * _median_gap(fixes, np))
    params = TrackerParams.from_settings(settings.tracking)
    params = TrackerParams(**{**{f: getattr(params, f) for f in params.__dataclass_fields__}, "vehicle_stale_s": stale})
    print(f"replaying {len(fixes):,} fixes of {len({f.vehicle_id for f in fixes}):,} vehicles "
          f"({avl.format} layout, mode {args.mode}, vehicles stale after {stale:.0f} s) ...", file=sys.stderr)
    ev = replay(index, fixes, params, batch_s=args.batch_s)
    write_predictions(ev, args.out / "predictions.csv")
    write_arrivals(ev, args.out / "arrivals.csv")
    print(f"{ev.predictions:,} predictions, {len(ev.arrivals):,} arrivals detected, {ev.scored:,} predictions "
          f"scored ({time.perf_counter() - started:.1f} s)")
    print(f"wrote {args.out / 'predictions.csv'} and {args.out / 'arrivals.csv'}")
    print()
    print(format_table([("model", ev.model), ("schedule-only", ev.schedule), ("delay propagation", ev.propagated)]))
    print()
    for line in improvement_lines(ev):
        print(line)
    return 0


def _median_gap(fixes: list[Any], np: Any) -> float:
    by: dict[str, list[float]] = {}
    for f in fixes:
        by.setdefault(f.vehicle_id, []).append(f.ts)
    gaps = [np.diff(sorted(ts)) for ts in by.values() if len(ts) > 1]
    if not gaps:
        return 0.0
    g = np.concatenate(gaps)
    g = g[g > 0]
    return float(np.median(g)) if len(g) else 0.0


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")
