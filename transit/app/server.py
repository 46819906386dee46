"""Building the aiohttp application and running it until a signal, with a graceful drain."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable

from aiohttp import web

from transit.app.components import DEFAULT_COMPONENTS, resolve
from transit.app.errors import error_middleware
from transit.app.health import LINKS
from transit.app.services import SERVICES, Services

log = logging.getLogger(__name__)


def create_app(services: Services, components: Iterable[str] = DEFAULT_COMPONENTS) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware], client_max_size=services.settings.ingest.max_body_bytes,
    )
    app[SERVICES] = services
    app[LINKS] = []
    for path in components:
        resolve(path)(app, services)
    return app


async def run_app(app: web.Application, services: Services, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop``), then stop accepting, drain and clean up."""
    settings = services.settings
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=settings.http.shutdown_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port, reuse_address=True)
    await site.start()
    log.info("serving", extra={"host": settings.http.host, "port": settings.http.port})
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        await stop.wait()
    finally:
        log.info("shutting down: draining in-flight work")
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass

