"""Wiring: the JT/T 808 TCP server and the terminal registry's admin API in the running service.

Listed in DEFAULT_COMPONENTS after the ingest pipeline ("feeds.gps.component:setup"), so the
pipeline's FixSink is up before the first terminal connects and still up while the server drains.
The bound port is ``services.extras["jt808"].port`` (tests listen on port 0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from feeds.gps.jt808.admin import add_routes
from feeds.gps.jt808.registry import TerminalRegistry
from feeds.gps.jt808.server import Jt808Server
from transit.app.health import add_link
from transit.app.services import Services


def setup(app: web.Application, services: Services) -> None:
    registry = TerminalRegistry(services.pool)
    server = Jt808Server(services, registry)
    services.extras["jt808_registry"] = registry
    services.extras["jt808"] = server
    add_routes(app)
    add_link(app, "/api/v1/admin/terminals", "JT/T 808 终端登记 Terminal registry (admin token)", "operators")

    async def run(app: web.Application) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop(drain_s=services.settings.http.shutdown_timeout_s)

    app.cleanup_ctx.append(run)
