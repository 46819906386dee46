"""The GPS ingest component: the durable pipeline (``services.fix_sink``), the HTTP ingest
endpoints and the GTFS-Realtime pollers.

It is listed early in DEFAULT_COMPONENTS so that it starts before the sources that feed it (the
JT/T 808 server, the demo simulator) and stops after them: on shutdown the pollers stop first,
then the pipeline commits what is still queued, then the pool closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from feeds.gps.http import POLLERS, add_routes
from feeds.gps.metrics import get_feed_metrics, get_ingest_metrics
from feeds.gps.pipeline import IngestPipeline
from feeds.gps.poller import FeedPoller, list_polled_feeds
from transit.app.health import add_link
from transit.app.services import Services, get_services

PIPELINE = web.AppKey("gps_pipeline", IngestPipeline)


def setup(app: web.Application, services: Services) -> None:
    add_routes(app)
    app[POLLERS] = []
    get_ingest_metrics(services.registry)
    get_feed_metrics(services.registry)
    app.cleanup_ctx.append(_pipeline_ctx)
    app.cleanup_ctx.append(_pollers_ctx)
    add_link(app, "/api/v1/admin/feeds", "GPS 数据源状态 Polled GTFS-RT feed health (admin token)", "operators")


async def _pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    services = get_services(app)
    pipeline = IngestPipeline.from_services(services)
    await pipeline.start()
    app[PIPELINE] = pipeline
    services.fix_sink = pipeline
    services.extras["ingest"] = pipeline
    try:
        yield
    finally:
        await pipeline.close(timeout_s=services.settings.http.shutdown_timeout_s)
        if services.fix_sink is pipeline:
            services.fix_sink = None


async def _pollers_ctx(app: web.Application) -> AsyncIterator[None]:
    services = get_services(app)
    feeds = list_polled_feeds(services.settings.ingest.gtfs_rt_feeds)
    if not feeds:
        yield
        return
    session = aiohttp.ClientSession()
    metrics = get_feed_metrics(services.registry)
    pollers = [FeedPoller(f, app[PIPELINE], session, services.clock, metrics, services.registry) for f in feeds]
    app[POLLERS].extend(pollers)
    tasks = [asyncio.create_task(p.run(), name=f"gtfs-rt-poll-{p.feed.name}") for p in pollers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await session.close()
