"""Polling GTFS-Realtime feeds against a local HTTP server: conditional requests (ETag, 304),
feeds whose header timestamp did not move, timeouts and back-off, and the health operators see."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from google.transit import gtfs_realtime_pb2

from feeds.gps.metrics import get_feed_metrics
from feeds.gps.pipeline import IngestPipeline
from feeds.gps.poller import FeedPoller, PolledFeed, list_polled_feeds
from tests.conftest import admin_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.settings import Settings

T0 = 1_750_000_000


def feed_bytes(header_ts: int, vehicles: int = 3, moved: float = 0.0) -> bytes:
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = header_ts
    for i in range(vehicles):
        e = message.entity.add(id=str(i))
        e.vehicle.vehicle.id = f"bus-{i}"
        e.vehicle.timestamp = header_ts - i
        e.vehicle.position.latitude = 36.7 + i * 0.001 + moved
        e.vehicle.position.longitude = 117.5
    return message.SerializeToString()


@dataclass
class FakeFeed:
    """What the local server answers; it records the headers of every request."""

    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    delay_s: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return web.Response(status=self.status, text="feed generator crashed")
        if self.etag and request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304)
        headers = {}
        if self.etag:
            headers["ETag"] = self.etag
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
        return web.Response(body=self.body, headers=headers, content_type="application/x-protobuf")


@pytest.fixture
async def fake(aiohttp_server: Any) -> AsyncIterator[tuple[FakeFeed, str]]:
    state = FakeFeed()
    app = web.Application()
    app.router.add_get("/vehicle-positions.pb", state.handle)
    server = await aiohttp_server(app)
    yield state, str(server.make_url("/vehicle-positions.pb"))


@pytest.fixture
async def rig(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[tuple[Services, IngestPipeline]]:
    services = Services(settings=settings, pool=pool, clock=ManualClock(T0 + 5))
    pipeline = IngestPipeline.from_services(services)
    await pipeline.start()
    try:
        yield services, pipeline
    finally:
        await pipeline.close()


async def test_conditional_requests_and_an_unmoved_header_are_skipped(
        fake: tuple[FakeFeed, str], rig: tuple[Services, IngestPipeline], pool: asyncpg.Pool) -> None:
    state, url = fake
    services, pipeline = rig
    state.body, state.etag, state.last_modified = feed_bytes(T0), '"v1"', "Sat, 28 Jun 2025 10:00:00 GMT"
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(PolledFeed("local", url, interval_s=10, headers={"X-Api-Key": "k123"}), pipeline,
                            session, services.clock, get_feed_metrics(services.registry), services.registry)
        assert await poller.poll_once() == "ok"
        assert await pool.fetchval("SELECT count(*) FROM positions") == 3
        assert state.requests[0]["X-Api-Key"] == "k123" and "If-None-Match" not in state.requests[0]

        assert await poller.poll_once() == "not_modified"
        assert state.requests[1]["If-None-Match"] == '"v1"'
        assert state.requests[1]["If-Modified-Since"] == "Sat, 28 Jun 2025 10:00:00 GMT"

        # New bytes, same header timestamp: nothing new according to the producer; not decoded.
        state.body, state.etag = feed_bytes(T0, moved=0.01), '"v2"'
        assert await poller.poll_once() == "unchanged"
        assert await pool.fetchval("SELECT count(*) FROM positions") == 3

        state.body, state.etag = feed_bytes(T0 + 4), '"v3"'
        assert await poller.poll_once() == "ok"
        assert await pool.fetchval("SELECT count(*) FROM positions") == 6

    h = poller.health
    assert (h.polls, h.not_modified, h.unchanged, h.entities_read, h.fixes_accepted) == (4, 1, 1, 6, 6)
    assert h.header_ts == T0 + 4 and h.last_error is None and h.consecutive_errors == 0


async def test_errors_back_off_exponentially_and_a_success_resets(
        fake: tuple[FakeFeed, str], rig: tuple[Services, IngestPipeline]) -> None:
    state, url = fake
    services, pipeline = rig
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(PolledFeed("local", url, interval_s=10, timeout_s=0.3, max_backoff_s=60), pipeline,
                            session, services.clock, get_feed_metrics(services.registry), services.registry)
        assert poller.next_delay_s() == 10

        state.status = 500
        assert await poller.poll_once() == "error"
        assert poller.health.last_error == "HTTP 500 Internal Server Error: feed generator crashed"
        assert poller.next_delay_s() == 20

        state.status, state.body = 200, b"<html>maintenance</html>"
        assert await poller.poll_once() == "error"
        assert "not a GTFS-Realtime FeedMessage" in (poller.health.last_error or "")
        assert poller.next_delay_s() == 40

        state.body, state.delay_s = feed_bytes(T0), 1.0
        assert await poller.poll_once() == "error"
        assert poller.health.last_error == "timed out after 0.3 s"
        assert poller.next_delay_s() == 60  # capped at max_backoff_s
        assert poller.health.consecutive_errors == 3 and poller.health.last_success_ts is None

        state.delay_s = 0.0
        assert await poller.poll_once() == "ok"
        assert poller.next_delay_s() == 10
        assert poller.health.consecutive_errors == 0 and poller.health.last_success_ts == T0 + 5
        assert poller.health.last_error == "timed out after 0.3 s"  # kept for the operator


async def test_a_refused_submit_is_retried_not_skipped(
        fake: tuple[FakeFeed, str], settings: Settings, pool: asyncpg.Pool) -> None:
    state, url = fake
    services = Services(settings=settings, pool=pool, clock=ManualClock(T0 + 5))
    small = IngestPipeline.from_services(services, buffer_max_fixes=2)
    await small.start()
    state.body = feed_bytes(T0, vehicles=3)
    async with aiohttp.ClientSession() as session:
        metrics = get_feed_metrics(services.registry)
        poller = FeedPoller(PolledFeed("local", url), small, session, services.clock, metrics, services.registry)
        assert await poller.poll_once() == "error"
        assert "ingest refused the fixes: ingest buffer full" in (poller.health.last_error or "")
        await small.close()
        roomy = IngestPipeline.from_services(services)
        await roomy.start()
        poller._sink = roomy
        # Same header timestamp as the failed poll: it must be ingested now, not skipped.
        assert await poller.poll_once() == "ok"
        await roomy.close()
    assert await pool.fetchval("SELECT count(*) FROM positions") == 3


def test_feed_settings_are_read_with_defaults() -> None:
    feeds = list_polled_feeds([
        {"url": "https://example.org/gtfs-rt/vp?key=secret", "interval_s": 30, "headers": {"X-Key": "1"}},
        {"url": "http://10.0.0.5/vp.pb", "name": "depot", "interval_s": 5, "timeout_s": 2},
    ])
    assert feeds[0].name == "example.org/gtfs-rt/vp" and feeds[0].interval_s == 30
    assert feeds[0].headers == {"X-Key": "1"} and feeds[0].timeout_s == 10 and feeds[0].max_backoff_s == 300
    assert (feeds[1].name, feeds[1].timeout_s) == ("depot", 2)


async def test_health_is_shown_in_metrics_and_on_the_admin_endpoint(
        fake: tuple[FakeFeed, str], settings: Settings, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    state, url = fake
    now = int(time.time())
    state.body, state.etag = feed_bytes(now, vehicles=4), '"a"'
    configured = settings.replace(**{"ingest.gtfs_rt_feeds": (
        {"url": url + "?key=topsecret", "interval_s": 0.05, "name": "local"},
        {"url": url.replace("/vehicle-positions.pb", "/missing.pb"), "interval_s": 0.05, "name": "broken"},
    )})
    services = Services(settings=configured, pool=pool)
    client = await aiohttp_client(create_app(services, components=[
        "transit.app.health:setup", "feeds.gps.component:setup"]))
    for _ in range(200):
        if await pool.fetchval("SELECT count(*) FROM positions") == 4 and len(state.requests) >= 3:
            break
        await asyncio.sleep(0.05)

    assert (await client.get("/api/v1/admin/feeds")).status == 401
    resp = await client.get("/api/v1/admin/feeds", headers=admin_headers())
    feeds = {f["name"]: f for f in (await resp.json())["feeds"]}
    local, broken = feeds["local"], feeds["broken"]
    assert local["entities_read"] == 4 and local["fixes_accepted"] == 4 and local["last_success"] is not None
    assert local["not_modified"] >= 1 and local["last_result"] == "not_modified"
    assert "topsecret" not in local["url"] and "key=%2A%2A%2A" in local["url"]
    assert broken["last_success"] is None and broken["last_error_message"].startswith("HTTP 404")
    assert broken["consecutive_errors"] >= 1

    metrics = await (await client.get("/metrics")).text()
    assert 'transit_gtfsrt_feed_entities_read_total{feed="local"} 4.0' in metrics
    assert 'transit_gtfsrt_feed_polls_total{feed="local",result="ok"} 1.0' in metrics
    assert 'transit_gtfsrt_feed_polls_total{feed="broken",result="error"}' in metrics
    assert 'transit_gtfsrt_feed_last_success_timestamp_seconds{feed="local"}' in metrics
    assert 'transit_gtfsrt_feed_consecutive_errors{feed="broken"}' in metrics
    header = next(line for line in metrics.splitlines()
                  if line.startswith('transit_gtfsrt_feed_header_timestamp_seconds{feed="local"}'))
    assert float(header.split()[-1]) == now
