"""``transit``: the one console command.  Each sub-command has ``--help``.

Packages contribute sub-commands through an ``add_commands(subparsers)`` function listed in
``COMMAND_MODULES``; a command's handler takes ``(args, settings)`` and returns an exit code
(a coroutine function is run with asyncio).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transit.settings import ConfigError, Settings, load_settings

COMMAND_MODULES: tuple[str, ...] = (
    "transit.commands.core",
    "transit.demo.command",
    "feeds.gps.replay_command",
    "transit.tracking.evaluate_command",
    "feeds.gps.jt808.commands",
    "display.cli",
    "signals.cli",
    "feeds.fares.command",
    "transit.reports.command",
)

log = logging.getLogger("transit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transit",
        description="Real-time bus service for Zhangqiu: GPS in, arrival predictions, stop boards, "
        "GTFS-Realtime and the bureau's indicators.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: $TRANSIT_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data directory, holds the embedded database "
                                                     "(TRANSIT_DATA_DIR, default ./transit-data)")
    parser.add_argument("--database-url", help="PostgreSQL URL (TRANSIT_DATABASE_URL); unset: embedded")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (TRANSIT_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": args.data_dir,
        "database.url": args.database_url,
        "log_level": args.log_level,
    }
    for key, dest in (("http.port", "port"), ("http.host", "host"), ("jt808.port", "jt808_port")):
        if getattr(args, dest, None) is not None:
            overrides[key] = getattr(args, dest)
    return load_settings(config_file=args.config, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from transit.app.logs import configure_logging

    configure_logging("WARNING")  # until settings are known: only problems
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"transit: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level if args.command in ("serve", "demo") else
                      (args.log_level or "WARNING"))
    handler = args.handler
    try:
        if inspect.iscoroutinefunction(handler):
            return int(asyncio.run(handler(args, settings)) or 0)
        return int(handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
