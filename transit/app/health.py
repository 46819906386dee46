"""/healthz, /readyz, /metrics and the root page that links to everything the service offers."""

from __future__ import annotations

import asyncio
import html
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from transit.app.services import Services, get_services

#: Pages other components add to the root page: (path, title in Chinese and English, audience).
LINKS = web.AppKey("links", list)


def add_link(app: web.Application, path: str, title: str, audience: str) -> None:
    app[LINKS].append((path, title, audience))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = get_services(request)
    checks: dict[str, object] = {}
    ok = True
    try:
        async with asyncio.timeout(2.0):
            await services.pool.fetchval("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ok = False
    index = services.schedule.current()
    if index is None:
        checks["feed"] = "no GTFS feed loaded"
        ok = False
    else:
        checks["feed"] = {"feed_id": index.feed_id, "trips": index.n_trips}
    snap = services.snapshots.current()
    checks["snapshot"] = {"version": snap.version, "vehicles": len(snap.vehicles)}
    return web.json_response({"status": "ready" if ok else "not ready", "checks": checks},
                             status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    services = get_services(request)
    body = generate_latest(services.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def root(request: web.Request) -> web.Response:
    services = get_services(request)
    index = services.schedule.current()
    feed = f"feed {index.feed_id}: {index.agency_name}, {index.n_trips} trips" if index else "no feed loaded"
    rows = "\n".join(
        f'<li><a href="{html.escape(path)}">{html.escape(title)}</a> <small>{html.escape(aud)}</small></li>'
        for path, title, aud in sorted(request.app[LINKS], key=lambda link: (link[2], link[0]))
    )
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>章丘公交实时服务 Zhangqiu real-time transit</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.6}}
small{{color:#666}}</style></head><body>
<h1>章丘公交实时服务 <small>Zhangqiu real-time transit</small></h1>
<p>{html.escape(feed)} · snapshot {services.snapshots.current().version}</p>
<ul>{rows}</ul></body></html>"""
    return web.Response(text=page, content_type="text/html")


def setup(app: web.Application, services: Services) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    add_link(app, "/healthz", "存活检查 Liveness", "operators")
    add_link(app, "/readyz", "就绪检查 Readiness", "operators")
    add_link(app, "/metrics", "监控指标 Prometheus metrics", "operators")
    started = time.time()
    Gauge("transit_start_time_seconds", "When this process started", registry=services.registry).set(started)
    snap = Gauge("transit_snapshot_version", "Version of the current predictions snapshot",
                 registry=services.registry)
    snap.set_function(lambda: services.snapshots.current().version)
    feed = Gauge("transit_feed_id", "Active GTFS feed version (0: none)", registry=services.registry)
    feed.set_function(lambda: (services.schedule.current().feed_id if services.schedule.current() else 0))
