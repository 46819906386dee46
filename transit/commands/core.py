"""Core sub-commands: serve, migrate, import-gtfs, feeds, config."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from transit.settings import Settings, describe_settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the service (HTTP API, ingest, tracker, boards)",
                       description="Run the service until SIGINT/SIGTERM. Applies migrations first.")
    p.add_argument("--host", help="HTTP bind address (TRANSIT_HTTP_HOST)")
    p.add_argument("--port", type=int, help="HTTP port (TRANSIT_HTTP_PORT, default 8080)")
    p.add_argument("--jt808-port", type=int, help="JT/T 808 TCP port (TRANSIT_JT808_PORT, default 6808)")
    p.set_defaults(handler=serve)

    p = sub.add_parser("migrate", help="apply pending database migrations",
                       description="Apply the SQL migrations not yet recorded in schema_migrations.")
    p.set_defaults(handler=migrate)

    p = sub.add_parser("import-gtfs", help="import a GTFS zip or folder as a new feed version",
                       description="Load a GTFS feed with COPY. It becomes active only if valid as a "
                       "whole; otherwise the previous version stays active and every error is listed.")
    p.add_argument("path", type=Path, help="GTFS .zip file or folder of .txt files")
    p.add_argument("--no-activate", action="store_true", help="load and check, but do not activate")
    p.set_defaults(handler=import_gtfs)

    p = sub.add_parser("feeds", help="list GTFS feed versions",
                       description="List the imported feed versions, their status and counts.")
    p.set_defaults(handler=list_feeds)

    p = sub.add_parser("config", help="show the settings and where each comes from",
                       description="Print every setting: environment variable, TOML key, value.")
    p.set_defaults(handler=show_config)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app import runtime
    from transit.app.server import create_app, run_app

    started = time.perf_counter()
    async with runtime.services(settings) as svc:
        app = create_app(svc)
        import asyncio

        stop = asyncio.Event()
        ready_task = asyncio.create_task(_report_ready(settings, started))
        try:
            await run_app(app, svc, stop)
        finally:
            ready_task.cancel()
    return 0


async def _report_ready(settings: Settings, started: float) -> None:
    import asyncio
    import logging

    import aiohttp

    host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::") else settings.http.host
    url = f"http://{host}:{settings.http.port}/readyz"
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        logging.getLogger("transit").info(
                            "ready", extra={"cold_start_s": round(time.perf_counter() - started, 3)}
                        )
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app.runtime import database

    async with database(settings, migrate=False) as db:
        applied = await db.migrate()
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


async def import_gtfs(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.gtfs import GtfsImportFailed
    from feeds.gtfs import import_gtfs as run_import
    from feeds.gtfs.progress import Progress
    from transit.app.runtime import database

    async with database(settings) as db:
        try:
            result = await run_import(db.pool, args.path, activate=not args.no_activate, progress=Progress())
        except GtfsImportFailed as exc:
            print(str(exc), file=sys.stderr)
            return 1
        except (FileNotFoundError, ValueError) as exc:
            print(f"transit import-gtfs: {exc}", file=sys.stderr)
            return 1
    state = "active" if result.active else "loaded (not active)"
    print(f"feed version {result.feed_id} {state} in {result.seconds:.2f} s "
          f"({result.rows / max(result.seconds, 1e-9):,.0f} rows/s)")
    for name, count in result.counts.items():
        print(f"  {name:<16} {count:>10,}")
    for warning in result.warnings:
        print(f"  warning: {warning}")
    return 0


async def list_feeds(args: argparse.Namespace, settings: Settings) -> int:
    from transit.app.runtime import database

    async with database(settings) as db:
        rows = await db.pool.fetch(
            "SELECT feed_id, status, source, imported_at, counts, errors FROM feed_versions ORDER BY feed_id"
        )
    if not rows:
        print("no feed versions; run `transit import-gtfs PATH`")
    for r in rows:
        counts = r["counts"] or {}
        print(f"{r['feed_id']:>4} {r['status']:<10} {r['imported_at']:%Y-%m-%d %H:%M} "
              f"trips={counts.get('trips', 0):<7} stop_times={counts.get('stop_times', 0):<8} {r['source']}")
        for err in (r["errors"] or [])[:5]:
            print(f"       {err['file']} line {err['line']}: {err['problem']}")
    return 0


def show_config(args: argparse.Namespace, settings: Settings) -> int:
    current = settings.redacted()
    for env, key, default in describe_settings():
        section, _, name = key.rpartition(".")
        value = current[section][name] if section else current[name]
        print(f"{env:<40} {key:<32} {json.dumps(value, default=str, ensure_ascii=False)}"
              + ("" if value == default else f"   (default {json.dumps(default, default=str)})"))
    return 0
