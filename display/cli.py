"""``transit boards ...``: import the board registry from CSV, list boards, rotate a key."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from transit.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser("boards", help="manage electronic stop boards (电子站牌)",
                       description="Import, list and re-key the stop boards the service renders frames for.")
    bsub = p.add_subparsers(dest="boards_command", metavar="ACTION", required=True)

    q = bsub.add_parser(
        "import", help="create or update boards from a CSV file",
        description="Header: board_id,stop_ids,route_ids,rows,cols,encoding,languages,key,poll_interval_s,"
        "location (optional: paging,delivery,frame_format,message_mode). stop_ids and route_ids are "
        "separated by ';' (empty route_ids: all lines). A board with an empty key gets a generated one, "
        "printed once. Bad rows are reported with their line numbers; good rows are saved.")
    q.add_argument("file", type=Path, help="CSV file (UTF-8 or GBK)")
    q.set_defaults(handler=import_command)

    q = bsub.add_parser("list", help="list boards and their state",
                        description="List boards in service with their last heartbeat.")
    q.set_defaults(handler=list_command)

    q = bsub.add_parser("rekey", help="give a board a new generated key (printed once)",
                        description="Replace a board's key with a new random one and print it.")
    q.add_argument("board_id")
    q.set_defaults(handler=rekey_command)


async def import_command(args: argparse.Namespace, settings: Settings) -> int:
    from display.importer import import_boards
    from transit.app.runtime import database
    from transit.schedule.holder import ScheduleHolder

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"transit boards import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    async with database(settings) as db:
        holder = ScheduleHolder()
        index = await holder.reload(db.pool)
        report = await import_boards(db.pool, data, index, time.time())
    for saved in report.saved:
        print(f"{'created' if saved.created else 'updated'} {saved.board_id}"
              + (f"  key: {saved.generated_key}" if saved.generated_key else ""))
    for r in report.rejections:
        print(f"{args.file}:{r.index}: {r.kind}: {r.detail}", file=sys.stderr)
    if report.unchecked:
        print("warning: no GTFS feed is loaded, stop and route ids were not checked", file=sys.stderr)
    print(f"{len(report.saved)} board(s) saved, {len(report.rejections)} row(s) rejected "
          f"of {report.rows}")
    return 1 if report.rejections else 0


async def list_command(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app.runtime import database

    async with database(settings) as db:
        rows = await db.pool.fetch(
            """SELECT b.board_id, b.stop_ids, b.rows, b.cols, b.encoding, b.languages, b.delivery,
                      b.last_seen_at, b.last_via, b.location,
                      EXISTS (SELECT 1 FROM board_offline_periods p WHERE p.board_id = b.board_id
                              AND p.end_at IS NULL) AS offline
               FROM boards b WHERE b.retired_at IS NULL ORDER BY b.board_id""")
    if not rows:
        print("no boards; import some with `transit boards import FILE.csv`")
    tz = settings.tz
    for r in rows:
        seen = r["last_seen_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if r["last_seen_at"] else "never"
        print(f"{r['board_id']:<20} {'offline' if r['offline'] else 'online':<8} seen {seen:<19} "
              f"{r['rows']}x{r['cols']} {r['encoding']:<6} {r['languages']:<5} {r['delivery']:<4} "
              f"stops {';'.join(r['stop_ids'])}  {r['location']}")
    return 0


async def rekey_command(args: argparse.Namespace, settings: Settings) -> int:
    from display.registry import set_key
    from transit.app.runtime import database

    async with database(settings) as db:
        key = await set_key(db.pool, args.board_id, None, dt.datetime.now(dt.UTC).timestamp())
    if key is None:
        print(f"transit boards rekey: unknown board {args.board_id!r}", file=sys.stderr)
        return 1
    print(key)
    return 0
