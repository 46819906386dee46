"""CLI: ``transit intersections``, ``transit signals`` and ``transit cameras``.

Each import stores what is good, lists what is not (with line numbers), then brings the coverage
log up to date before it exits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from transit.settings import Settings


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_commands(sub: Any) -> None:
    p = sub.add_parser("intersections", help="the intersection registry (key intersections, controllers, cameras)",
                       description="Manage the intersections the bureau reports on.")
    isub = p.add_subparsers(dest="intersections_command", metavar="ACTION", required=True)
    q = isub.add_parser("import", help="import intersections from CSV",
                        description="CSV header: intersection_id,name,lat,lon,town,is_key,controller_ids,"
                        "camera_ids,in_service_from (ids separated by ';'). Bad rows are listed with their line "
                        "numbers; good rows are kept.")
    q.add_argument("file", type=Path)
    q.set_defaults(handler=import_intersections)
    q = isub.add_parser("list", help="list the registered intersections")
    q.set_defaults(handler=show_intersections)

    p = sub.add_parser("signals", help="signal-controller data and the coverage log",
                       description="Import controller data, recompute the coverage log, show the ratios.")
    ssub = p.add_subparsers(dest="signals_command", metavar="ACTION", required=True)
    q = ssub.add_parser("import", help="import Indiana high-resolution event logs (CSV)",
                        description="Any of the common variants: with or without header, BOM, ISO or "
                        "M/D/YYYY timestamps, columns in any order. Prints the events counted by code and name.")
    q.add_argument("files", type=Path, nargs="+")
    q.add_argument("--signal-id", help="signal id for logs without a signal-id column")
    q.add_argument("--timezone", help="zone of timestamps without an offset (default: the service's)")
    q.set_defaults(handler=import_events)
    q = ssub.add_parser("status", help="import GA/T 1049.2-style status messages (JSON file)")
    q.add_argument("file", type=Path)
    q.set_defaults(handler=import_status)
    q = ssub.add_parser("recompute", help="recompute the coverage log for a date range",
                        description="Recompute every day of the range for every intersection (or those named), "
                        "creating rows for days without data too.")
    q.add_argument("--from", dest="date_from", type=_date, required=True)
    q.add_argument("--to", dest="date_to", type=_date, required=True)
    q.add_argument("--intersection", action="append", help="only this intersection (repeatable)")
    q.set_defaults(handler=recompute)
    q = ssub.add_parser("ratios", help="the real-time signal-timing and e-police coverage ratios")
    q.add_argument("--from", dest="date_from", type=_date, required=True)
    q.add_argument("--to", dest="date_to", type=_date, required=True)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(handler=show_ratios)
    q = ssub.add_parser("log", help="print the coverage log")
    q.add_argument("--from", dest="date_from", type=_date, required=True)
    q.add_argument("--to", dest="date_to", type=_date, required=True)
    q.add_argument("--intersection")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(handler=show_log)

    p = sub.add_parser("cameras", help="electronic-police camera reports")
    csub = p.add_subparsers(dest="cameras_command", metavar="ACTION", required=True)
    q = csub.add_parser("import", help="import camera heartbeats or daily capture counts (CSV or JSON)",
                        description="CSV header camera_id,time (heartbeats) or camera_id,date,captures "
                        "(daily counts); or the same as JSON.")
    q.add_argument("file", type=Path)
    q.set_defaults(handler=import_cameras)


def _print_rejections(rejections: Any, limit: int = 50) -> None:
    for r in list(rejections)[:limit]:
        print(f"  rejected ({r.kind}): {r.detail}", file=sys.stderr)
    if len(rejections) > limit:
        print(f"  ... and {len(rejections) - limit} more", file=sys.stderr)


async def _update_log(pool: Any, settings: Settings) -> None:
    from signals.recompute import process_dirty

    done = await process_dirty(pool, settings, time.time())
    print(f"coverage log: {done} intersection-days recomputed")


async def import_intersections(args: argparse.Namespace, settings: Settings) -> int:
    from signals.intersections import InvalidIntersection, parse_intersections_csv
    from signals.registry import upsert_intersections
    from transit.app.runtime import database

    try:
        good, bad = parse_intersections_csv(args.file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"transit intersections import: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    except InvalidIntersection as exc:
        print(f"transit intersections import: {exc.detail}", file=sys.stderr)
        return 1
    async with database(settings) as db:
        stored, clashes = await upsert_intersections(db.pool, good)
        await _update_log(db.pool, settings)
    rejections = sorted([*bad, *clashes], key=lambda r: r.index)
    print(f"{len(stored)} intersections stored, {len(rejections)} rows rejected")
    _print_rejections(rejections)
    return 0 if stored or not rejections else 1


async def show_intersections(args: argparse.Namespace, settings: Settings) -> int:
    from signals.registry import list_intersections
    from transit.app.runtime import database

    async with database(settings) as db:
        items = await list_intersections(db.pool)
    for i in items:
        print(f"{i.intersection_id:<14} {'key' if i.is_key else '   '} {i.name}  ({i.lat:.5f}, {i.lon:.5f}) "
              f"controllers={';'.join(i.controller_ids) or '-'} cameras={';'.join(i.camera_ids) or '-'}")
    if not items:
        print("no intersections; run `transit intersections import FILE.csv`")
    return 0


async def import_events(args: argparse.Namespace, settings: Settings) -> int:
    from signals.codes import name_counts
    from signals.indiana import EventLogError, parse_event_log
    from signals.store import store_events
    from transit.app.runtime import database

    tz = args.timezone or settings.timezone
    failed = False
    async with database(settings) as db:
        for path in args.files:
            started = time.perf_counter()
            try:
                parsed = parse_event_log(path.read_bytes(), tz=tz, signal_id=args.signal_id, now=time.time(),
                                         max_future_s=settings.ingest.max_future_s)
            except (OSError, EventLogError, ValueError) as exc:
                print(f"{path}: {exc}", file=sys.stderr)
                failed = True
                continue
            result = await store_events(db.pool, parsed, tz)
            seconds = time.perf_counter() - started
            print(f"{path}: {result.stored:,} events stored from {parsed.rows_read:,} rows "
                  f"({result.stored / max(seconds, 1e-9):,.0f} events/s), signals {', '.join(sorted(result.days))}")
            for code, info in name_counts(parsed.code_counts()).items():
                print(f"  {code:>5} {info['name'] or '?':<36} {info['count']:>10,}")
            if result.replaced:
                print(f"  replaced {result.replaced:,} events stored before for the same signals, hours and codes")
            if result.unregistered:
                print(f"  note: signals not in the registry yet: {', '.join(result.unregistered)}")
            _print_rejections(parsed.rejections)
        await _update_log(db.pool, settings)
    return 1 if failed else 0


async def import_status(args: argparse.Namespace, settings: Settings) -> int:
    from signals.status import decode_status
    from signals.store import store_status
    from transit.app.runtime import database

    try:
        body = json.loads(args.file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    messages, rejections = decode_status(body, tz=settings.timezone, now=time.time(),
                                         max_future_s=settings.ingest.max_future_s)
    async with database(settings) as db:
        result = await store_status(db.pool, messages, settings.timezone)
        await _update_log(db.pool, settings)
    print(f"{len(messages)} messages accepted ({result.stored} new), {len(rejections)} rejected")
    _print_rejections(rejections)
    return 0 if messages or not rejections else 1


async def import_cameras(args: argparse.Namespace, settings: Settings) -> int:
    from signals.cameras import decode_camera_csv, decode_camera_json, roll_up
    from signals.status import MessageError
    from signals.store import store_camera_days
    from transit.app.runtime import database

    try:
        text = args.file.read_text(encoding="utf-8-sig")
        if args.file.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
            reports, rejections = decode_camera_json(json.loads(text), tz=settings.timezone, now=time.time())
        else:
            reports, rejections = decode_camera_csv(text, tz=settings.timezone, now=time.time())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    except MessageError as exc:
        print(f"{args.file}: {exc.detail}", file=sys.stderr)
        return 1
    async with database(settings) as db:
        result = await store_camera_days(db.pool, roll_up(reports, settings.timezone))
        await _update_log(db.pool, settings)
    print(f"{len(reports)} camera reports accepted ({result.stored} camera-days), {len(rejections)} rejected")
    if result.unregistered:
        print(f"  note: cameras not in the registry yet: {', '.join(result.unregistered)}")
    _print_rejections(rejections)
    return 0 if reports or not rejections else 1


async def recompute(args: argparse.Namespace, settings: Settings) -> int:
    from signals.recompute import process_dirty, recompute_range
    from transit.app.runtime import database

    async with database(settings) as db:
        await process_dirty(db.pool, settings, time.time())
        done = await recompute_range(db.pool, args.date_from, args.date_to, settings, time.time(), args.intersection)
    print(f"{done} intersection-days recomputed")
    return 0


async def show_ratios(args: argparse.Namespace, settings: Settings) -> int:
    from signals.coverage import ratios
    from transit.app.runtime import database

    async with database(settings) as db:
        result = await ratios(db.pool, args.date_from, args.date_to, settings)
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return 0
    for title, ratio in (("路口实时信号配时系统比例 real-time signal timing", result.realtime_timing),
                         ("电子警察监控点覆盖率 electronic-police coverage", result.epolice)):
        value = f"{ratio.value:.1%}" if ratio.value is not None else "n/a"
        print(f"{title}: {ratio.numerator}/{ratio.denominator} = {value}")
        for ident, name, reason in ratio.not_counted:
            print(f"  - {ident} {name}: {reason}")
    return 0


async def show_log(args: argparse.Namespace, settings: Settings) -> int:
    from signals.log_store import list_days
    from signals.recompute import process_dirty
    from transit.app.runtime import database

    async with database(settings) as db:
        await process_dirty(db.pool, settings, time.time())
        days = await list_days(db.pool, args.date_from, args.date_to, args.intersection)
    if args.json:
        print(json.dumps(days, ensure_ascii=False, indent=2, default=str))
        return 0
    for d in days:
        cams = " ".join(f"{c}:{'ok' if v.get('reported') else 'silent'}" for c, v in d["cameras"].items())
        print(f"{d['day']} {d['intersection_id']:<12} {'RT ' if d['realtime'] else '-- '}"
              f"online {d['online_min']:.0f}/{d['operating_min']:.0f} rt {d['realtime_min']:.0f} "
              f"flash {d['flash_min']:.0f} cycles {d['cycles']} cv {d['cycle_cv'] if d['cycle_cv'] is not None else '-'} "
              f"plans {d['plan_changes']} gap-outs {d['gap_outs']} {cams} {d['reason'] or ''}")
    return 0
