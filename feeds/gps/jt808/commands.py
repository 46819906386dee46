"""``transit terminals``: the JT/T 808 terminal registry from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from transit.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser("terminals", help="JT/T 808 terminal registry (phone -> vehicle -> line)",
                       description="Manage which JT/T 808 terminal (by SIM phone number) sits in which "
                       "vehicle, and the vehicle's default line.")
    tsub = p.add_subparsers(dest="terminals_command", metavar="ACTION", required=True)

    q = tsub.add_parser("import", help="create or update terminals from a CSV file",
                        description="Read FILE.csv with the header phone,vehicle_id,plate,route_id "
                        "(UTF-8 or GBK). Good rows are stored; every bad row is listed with its line "
                        "number. Exit status 1 if any row was bad.")
    q.add_argument("file", type=Path, help="CSV file")
    q.set_defaults(handler=import_command)

    q = tsub.add_parser("list", help="list registered terminals",
                        description="Print the registry; --csv prints it in the import format.")
    q.add_argument("--route", help="only terminals whose default line is this route_id")
    q.add_argument("--csv", action="store_true", help="print CSV (phone,vehicle_id,plate,route_id)")
    q.set_defaults(handler=list_command)

    q = tsub.add_parser("delete", help="remove a terminal", description="Remove a terminal from the registry.")
    q.add_argument("phone", help="terminal phone number")
    q.set_defaults(handler=delete_command)


async def import_command(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.gps.jt808.registry import TerminalRegistry
    from feeds.gps.jt808.registry_csv import decode_text, parse_registry_csv
    from transit.app.runtime import database

    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        print(f"transit terminals import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    parsed = parse_registry_csv(decode_text(raw))
    async with database(settings) as db:
        created, updated = await TerminalRegistry(db.pool).import_terminals(t for _, t in parsed.terminals)
        index_routes = {r["route_id"] for r in await db.pool.fetch(
            """SELECT r.route_id FROM gtfs_routes r JOIN feed_versions f USING (feed_id)
               WHERE f.status = 'active'""")} if await _has_active_feed(db.pool) else None
    print(f"{args.file}: {created} terminals created, {updated} updated, {len(parsed.rejections)} bad rows")
    for r in parsed.rejections:
        print(f"  line {r.index}: {r.detail}", file=sys.stderr)
    if index_routes is not None:
        for line, t in parsed.terminals:
            if t.route_id and t.route_id not in index_routes:
                print(f"  line {line}: warning: route_id {t.route_id!r} is not in the active GTFS feed",
                      file=sys.stderr)
    return 1 if parsed.rejections else 0


async def _has_active_feed(pool: Any) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM feed_versions WHERE status = 'active'"))


async def list_command(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.gps.jt808.registry import TerminalRegistry
    from feeds.gps.jt808.registry_csv import terminals_to_csv
    from transit.app.runtime import database

    async with database(settings) as db:
        rows = await TerminalRegistry(db.pool).list_rows(route_id=args.route)
    if args.csv:
        sys.stdout.write(terminals_to_csv([r.terminal for r in rows]))
        return 0
    if not rows:
        print("no terminals registered; add them with `transit terminals import FILE.csv`")
        return 0
    print(f"{'phone':<21}{'vehicle_id':<16}{'plate':<12}{'route_id':<12}{'auth':<6}last authenticated")
    for r in rows:
        t = r.terminal
        seen = r.details["authenticated_at"]
        seen = seen.astimezone(settings.tz) if seen else None
        print(f"{t.phone:<21}{t.vehicle_id:<16}{(t.plate or '-'):<12}{(t.route_id or '-'):<12}"
              f"{('yes' if r.auth_code else 'no'):<6}{seen.isoformat(timespec='seconds') if seen else 'never'}"
              + ("  (provisional)" if t.provisional else ""))
    print(f"{len(rows)} terminals")
    return 0


async def delete_command(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.gps.jt808.packet import normalise_phone
    from feeds.gps.jt808.registry import TerminalRegistry
    from transit.app.runtime import database

    phone = normalise_phone(args.phone)
    if phone is None:
        print(f"transit terminals delete: {args.phone!r} is not a terminal phone (1-20 digits)", file=sys.stderr)
        return 2
    async with database(settings) as db:
        found = await TerminalRegistry(db.pool).delete(phone)
    print(f"terminal {phone} deleted" if found else f"no terminal {phone}")
    return 0 if found else 1
