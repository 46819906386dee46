"""Opening and closing what a process needs: the database (embedded or not) and the services."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from transit.app.services import Services
from transit.core.clock import Clock, SystemClock
from transit.db.pool import Database, open_database
from transit.settings import Settings


@contextlib.asynccontextmanager
async def database(settings: Settings, migrate: bool = True) -> AsyncIterator[Database]:
    db = await open_database(settings, migrate=migrate)
    try:
        yield db
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def services(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Services]:
    """Database open and migrated, schedule loaded: what ``serve`` and ``demo`` run on."""
    async with database(settings) as db:
        svc = Services(settings=settings, pool=db.pool, clock=clock or SystemClock())
        svc.extras["database"] = db
        await svc.schedule.reload(db.pool)
        yield svc
