"""The components a running service is made of, in start order (stopped in reverse).

Each entry names a ``setup(app, services)`` function that adds its routes and registers its
background work with ``app.cleanup_ctx``.  Order matters: the ingest pipeline starts before the
sources that feed it and stops after them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from aiohttp import web

from transit.app.services import Services

Setup = Callable[[web.Application, Services], None]

DEFAULT_COMPONENTS: tuple[str, ...] = (
    "transit.app.health:setup",
    "feeds.gps.component:setup",
    "feeds.gps.jt808.component:setup",
    "transit.app.schedule_watch:setup",
    "transit.tracking.component:setup",
    "transit.api.web:setup",
    "transit.gtfsrt.web:setup",
    "display.component:setup",
    "signals.component:setup",
    "feeds.fares.http:setup",
    "transit.reports.http:setup",
)


def resolve(path: str) -> Setup:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
