"""``transit report`` (the bureau's report to a file) and ``transit urban-stops`` (flags)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from transit.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="write the bureau's indicator report (JSON, CSV or HTML)",
        description="Compute indicators 2, 7, 8 and 30 for a month, a day or a range of days and write them. "
        "With no period, the current month so far.")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--month", help="YYYY-MM")
    when.add_argument("--day", help="YYYY-MM-DD")
    when.add_argument("--from", dest="date_from", help="YYYY-MM-DD (or YYYY-MM), with --to")
    p.add_argument("--to", dest="date_to", help="YYYY-MM-DD (or YYYY-MM)")
    p.add_argument("--format", choices=("json", "csv", "html"), default="json")
    p.add_argument("--table", default="summary",
                   help="for CSV: summary, not_counted, lines, stops, payment_lines, payment_channels, payment_days")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.add_argument("--as-of", help="ISO 8601 time to report as of (default: now): trips scheduled later "
                                   "are not counted, and an unfinished period is marked so")
    p.set_defaults(handler=report)

    p = sub.add_parser("urban-stops", help="which stops are urban (board coverage): flags and boundary",
                       description="Flag stops urban or not urban, and set the stored urban boundary.")
    us = p.add_subparsers(dest="urban_command", metavar="ACTION", required=True)
    q = us.add_parser("import", help="import flags from CSV (stop_id,urban[,note]); empty urban clears a flag")
    q.add_argument("file", type=Path)
    q.set_defaults(handler=import_flags)
    q = us.add_parser("list", help="list the stops and whether each is urban")
    q.set_defaults(handler=list_stops)
    q = us.add_parser("boundary", help="store an urban boundary (GeoJSON or lon,lat lines)")
    q.add_argument("file", type=Path)
    q.set_defaults(handler=set_boundary)


async def report(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from transit.app.runtime import database
    from transit.reports.formats import CSV_TABLES, report_csv, report_html
    from transit.reports.inputs import ReportSource
    from transit.reports.period import PeriodError, parse_period
    from transit.reports.service import ReportService
    from transit.reports.urban import BoundaryError
    from transit.schedule.load import load_schedule

    if args.format == "csv" and args.table not in CSV_TABLES:
        print(f"transit report: --table must be one of {', '.join(CSV_TABLES)}", file=sys.stderr)
        return 2
    now = time.time()
    if args.as_of:
        try:
            as_of = dt.datetime.fromisoformat(args.as_of)
        except ValueError:
            print(f"transit report: --as-of: expected an ISO 8601 time, got {args.as_of!r}", file=sys.stderr)
            return 2
        now = (as_of if as_of.tzinfo else as_of.replace(tzinfo=settings.tz)).timestamp()
    try:
        period = parse_period(args.date_from, args.date_to, now=now, timezone=settings.timezone,
                              month=args.month, day=args.day)
    except PeriodError as exc:
        print(f"transit report: {exc}", file=sys.stderr)
        return 2
    async with database(settings) as db:
        source = ReportSource(db.pool, settings, await load_schedule(db.pool))
        service = ReportService()
        try:
            result = await service.report(source, period)
            if args.format == "json":
                text = json.dumps(result.as_json(), ensure_ascii=False, indent=2)
            elif args.format == "csv":
                text = report_csv(result, args.table)
            else:
                trend = await service.trend(source, period.date_to, 12, now)
                text = report_html(result, trend, await service.coverage_map(source, period))
        except BoundaryError as exc:
            print(f"transit report: {exc}", file=sys.stderr)
            return 1
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        stars = ", ".join(f"{r.number}: {r.stars}★" if r.stars else f"{r.number}: -" for r in result.ratings)
        print(f"{args.out}: {period.label}, {args.format}; {stars}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


async def import_flags(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app.runtime import database
    from transit.reports.urban_store import parse_flags_csv, save_flags
    from transit.schedule.load import load_schedule

    if not args.file.is_file():
        print(f"transit urban-stops import: {args.file}: no such file", file=sys.stderr)
        return 1
    async with database(settings) as db:
        index = await load_schedule(db.pool)
        rows, problems = parse_flags_csv(args.file.read_bytes(), index.stop_pos if index else None)
        await save_flags(db.pool, rows)
    print(f"{args.file}: {len(rows)} flags saved, {len(problems)} rows rejected")
    for p in problems[:50]:
        print(f"  line {p.index}: {p.kind}: {p.detail}")
    return 1 if problems and not rows else 0


async def list_stops(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app.runtime import database
    from transit.reports.inputs import ReportSource, urban_stops
    from transit.schedule.load import load_schedule

    async with database(settings) as db:
        source = ReportSource(db.pool, settings, await load_schedule(db.pool))
        stops, _, origin = await urban_stops(source)
    print(f"boundary: {origin}; {sum(s.urban for s in stops)} of {len(stops)} stops urban")
    for s in stops:
        print(f"{s.stop_id:<16} {'urban' if s.urban else '-':<6} {s.why:<9} {s.name}")
    return 0


async def set_boundary(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app.runtime import database
    from transit.reports.urban import BoundaryError
    from transit.reports.urban_store import put_boundary

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        print(f"transit urban-stops boundary: {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    async with database(settings) as db:
        try:
            boundary = await put_boundary(db.pool, text, f"file {args.file.name}")
        except BoundaryError as exc:
            print(f"transit urban-stops boundary: {exc}", file=sys.stderr)
            return 1
    print(f"stored an urban boundary of {len(boundary.polygons)} polygon(s)"
          + (f"; note: reports.urban_boundary ({settings.reports.urban_boundary}) takes precedence"
             if settings.reports.urban_boundary else ""))
    return 0
