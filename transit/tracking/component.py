"""The tracking component: the writer task and GET /api/v1/accuracy.

Listed in DEFAULT_COMPONENTS after the ingest components: it consumes ``services.fix_stream``
(fed by the ingest pipeline once fixes are committed), publishes to ``services.snapshots`` and
exposes itself as ``services.extras["tracker"]`` (``statistics()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from transit.app.health import add_link
from transit.app.services import Services, get_services
from transit.tracking.accuracy_http import accuracy
from transit.tracking.service import TrackerService

TRACKER = web.AppKey("tracker", TrackerService)


def setup(app: web.Application, services: Services) -> None:
    service = TrackerService(services)
    app[TRACKER] = service
    services.extras["tracker"] = service
    app.router.add_get("/api/v1/accuracy", accuracy)
    add_link(app, "/api/v1/accuracy", "到站预测准确度 Arrival prediction accuracy (JSON)", "riders")
    app.cleanup_ctx.append(_writer_ctx)


async def _writer_ctx(app: web.Application) -> AsyncIterator[None]:
    service = app[TRACKER]
    if get_services(app).schedule.current() is None:
        await get_services(app).schedule.reload(get_services(app).pool)
    await service.start()
    try:
        yield
    finally:
        await service.close()
