"""Building the aiohttp application and running it until a signal, with a graceful drain."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import warnings
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import hdrs, web

from transit.app.components import DEFAULT_COMPONENTS, resolve
from transit.app.errors import error_middleware
from transit.app.health import LINKS
from transit.app.services import SERVICES, Services

log = logging.getLogger(__name__)


#: GET endpoints answered ahead of the router and the middlewares: (prefix, suffix, handler).
DIRECT_GETS = web.AppKey("direct_gets", list)

DirectHandler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


#: Characters that send a path to the router: a nested path, percent-encoding, route syntax.
_UNUSUAL_IDENT = re.compile(r"[/%{}]").search


def add_direct_get(app: web.Application, prefix: str, suffix: str, handler: DirectHandler) -> None:
    """Answer ``GET {prefix}{ident}{suffix}`` with ``handler(request, ident)`` before routing.

    For an endpoint polled thousands of times a second (the stop boards): aiohttp runs every
    routed request through every middleware of the app, which costs as much as a small handler
    itself.  Such a handler does what the middlewares would do for it (JSON errors, raising
    :func:`~transit.app.errors.json_error` or :func:`~transit.app.errors.internal_error`) and
    reads neither ``request.match_info`` nor ``request.app``; ``on_response_prepare`` signals do
    not run for it.  Register the endpoint as an ordinary route as well: HEAD requests and
    unusual paths (percent-encoded, or an ``ident`` with ``/{}``) go through the router to it.
    """
    app.setdefault(DIRECT_GETS, []).append((prefix, suffix, handler))


def _serve_direct_gets(app: web.Application, table: tuple[tuple[str, str, DirectHandler], ...]) -> None:
    routed = app._handle

    def handle(request: web.Request) -> Awaitable[web.StreamResponse]:
        # not a coroutine: every other request goes on to aiohttp's own handling at no extra cost
        if request.method == "GET":
            raw = request.raw_path
            for prefix, suffix, handler in table:
                if raw.startswith(prefix):
                    path = raw.partition("?")[0]
                    ident = path[len(prefix):len(path) - len(suffix)]
                    if (ident and path.endswith(suffix) and not _UNUSUAL_IDENT(ident)
                            and hdrs.EXPECT not in request.headers):
                        return handler(request, ident)
        return routed(request)

    with warnings.catch_warnings():  # aiohttp's debug mode frowns on setting attributes of an app
        warnings.simplefilter("ignore", DeprecationWarning)
        app._handle = handle  # type: ignore[method-assign]


def create_app(services: Services, components: Iterable[str] = DEFAULT_COMPONENTS) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware], client_max_size=services.settings.ingest.max_body_bytes,
    )
    app[SERVICES] = services
    app[LINKS] = []
    for path in components:
        resolve(path)(app, services)
    if app.get(DIRECT_GETS):
        _serve_direct_gets(app, tuple(app[DIRECT_GETS]))
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

