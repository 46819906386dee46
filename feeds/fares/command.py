"""``transit fares``: import fare exports, list import batches, rebuild the daily roll-ups."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from transit.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser("fares", help="fare transactions: import, batches, rebuild",
                       description="Fare collection data for the electronic-payment rate (indicator 8).")
    fares = p.add_subparsers(dest="fares_command", metavar="ACTION", required=True)
    q = fares.add_parser(
        "import", help="import CSV or JSON fare files",
        description="Import fare transactions (header transaction_id,time,line,vehicle,stop_id,channel,"
        "amount_fen) or aggregate records (line,vehicle,date,channel,boardings[,source]). A transaction "
        "id already stored is skipped; bad rows are listed with their line numbers and the rest kept.")
    q.add_argument("files", nargs="+", type=Path, metavar="FILE")
    q.add_argument("--show", type=int, default=20, help="rejections to print per file (default 20)")
    q.set_defaults(handler=import_files)
    q = fares.add_parser("batches", help="list recent import batches")
    q.add_argument("--limit", type=int, default=20)
    q.set_defaults(handler=show_batches)
    q = fares.add_parser("rebuild", help="recompute the daily roll-ups of a date range",
                         description="Recompute fare_daily from the stored transactions and aggregates.")
    q.add_argument("--from", dest="date_from", type=dt.date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    q.add_argument("--to", dest="date_to", type=dt.date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    q.set_defaults(handler=rebuild)


async def import_files(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.fares.importer import describe, import_file, limits_from
    from transit.app.runtime import database

    status = 0
    async with database(settings) as db:
        for path in args.files:
            if not path.is_file():
                print(f"transit fares import: {path}: no such file", file=sys.stderr)
                status = 1
                continue
            summary = await import_file(db.pool, path, limits_from(settings, time.time()))
            print(f"{path}: " + "; ".join(describe(summary)))
            where = "index" if path.suffix.lower() == ".json" else "line"
            for r in summary.rejections[: args.show]:
                print(f"  {where} {r.index}: {r.kind}: {r.detail}")
            if summary.rejected > args.show:
                print(f"  ... and {summary.rejected - min(args.show, len(summary.rejections)):,} more rejected rows")
            if summary.rows and summary.rejected == summary.rows:
                status = 1
    return status


async def show_batches(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.fares.store import list_batches
    from transit.app.runtime import database

    async with database(settings) as db:
        rows = await list_batches(db.pool, args.limit)
    if not rows:
        print("no fare batches yet; run `transit fares import FILE`")
    for r in rows:
        print(f"{r['batch_id']:>6} {str(r['received_at'])[:19]} {r['source']:<24} rows={r['rows']:<8} "
              f"new={r['transactions_new']:<8} dup={r['transactions_duplicate']:<7} "
              f"agg={r['aggregates']:<5} rejected={r['rejected']}")
    return 0


async def rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.fares.store import rebuild_daily
    from transit.app.runtime import database

    if args.date_from > args.date_to:
        print("transit fares rebuild: --from is after --to", file=sys.stderr)
        return 2
    async with database(settings) as db:
        n = await rebuild_daily(db.pool, args.date_from, args.date_to)
    print(f"rebuilt {n:,} daily roll-up rows for {args.date_from} .. {args.date_to}")
    return 0
