"""The signal component: registry, controller and camera ingest, the coverage log and its ratios."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from signals.http import add_routes
from signals.metrics import SignalMetrics
from signals.runtime import SIGNALS, SignalsRuntime
from signals.worker import CoverageWorker
from transit.app.health import add_link
from transit.app.services import Services


def setup(app: web.Application, services: Services) -> None:
    metrics = SignalMetrics(services.registry)
    runtime = SignalsRuntime(metrics, CoverageWorker(services.pool, services.settings, services.clock, metrics))
    app[SIGNALS] = runtime
    services.extras["signals"] = runtime
    add_routes(app)
    add_link(app, "/api/v1/admin/signals/ratios", "路口实时信号配时与电子警察覆盖率 Signal timing & e-police coverage",
             "bureau")
    add_link(app, "/api/v1/admin/signals/coverage-days", "路口覆盖日志 Intersection coverage log", "bureau")

    async def run_worker(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(runtime.worker.run(), name="signals-coverage-worker")
        runtime.worker.poke()  # work whatever was left in the queue by a previous run
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(run_worker)
