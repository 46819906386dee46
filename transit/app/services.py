"""What every component of a running service shares, kept in one typed AppKey."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry

from transit.core.clock import Clock, SystemClock
from transit.core.ingest import FixSink, MemoryFixStream
from transit.core.snapshot import SnapshotHub
from transit.schedule.holder import ScheduleHolder
from transit.settings import Settings


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    clock: Clock = field(default_factory=SystemClock)
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    schedule: ScheduleHolder = field(default_factory=ScheduleHolder)
    snapshots: SnapshotHub = field(default_factory=SnapshotHub)
    fix_stream: MemoryFixStream = field(default_factory=MemoryFixStream)
    #: Set by the ingest component when it starts: the durable path every GPS source uses.
    fix_sink: FixSink | None = None
    #: Objects a component owns and others may read, by name ("tracker", "boards", ...).
    extras: dict[str, Any] = field(default_factory=dict)

    def require_sink(self) -> FixSink:
        if self.fix_sink is None:
            raise RuntimeError("the ingest component is not running")
        return self.fix_sink


SERVICES = web.AppKey("services", Services)


def get_services(request_or_app: web.Request | web.Application) -> Services:
    app = request_or_app.app if isinstance(request_or_app, web.Request) else request_or_app
    return app[SERVICES]
