"""Keeps the schedule index current: loads it at start and rebuilds it when a version is activated."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from transit.app.services import Services


def setup(app: web.Application, services: Services) -> None:
    async def watch(app: web.Application) -> AsyncIterator[None]:
        if services.schedule.current() is None:
            await services.schedule.reload(services.pool)
        task = asyncio.create_task(services.schedule.watch(services.pool), name="schedule-watch")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(watch)
