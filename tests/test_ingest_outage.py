"""PostgreSQL going away under the pipeline: a TCP proxy between the pool and the server is cut
and restored (the asyncpg test-suite habit).  Submissions wait in the bounded buffer, nothing is
acknowledged before its commit, everything is flushed on return, and past the bound senders are
refused clearly instead of anything being dropped."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from prometheus_client import generate_latest

from feeds.gps.pipeline import IngestPipeline
from tests.conftest import ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.core.fix import Fix
from transit.core.ingest import IngestUnavailable
from transit.db.pool import create_pool
from transit.settings import Settings

NOW = 1_750_000_000.0


class TcpProxy:
    """Forwards 127.0.0.1:port to the PostgreSQL server until cut; refuses connections while cut."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.upstream_bytes = 0
        self._cut_at: int | None = None
        self._server: asyncio.Server | None = None
        self._pairs: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.cut_event = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """Stop listening and break every open connection (a crashed or unplugged server)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._pairs):
            writer.transport.abort()
        self._pairs.clear()
        self.cut_event.set()

    def cut_after(self, more_upstream_bytes: int) -> None:
        self._cut_at = self.upstream_bytes + more_upstream_bytes

    async def restore(self) -> None:
        self.cut_event.clear()
        self._cut_at = None
        await self.start()

    async def close(self) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._pairs.update((writer, up_writer))
        for task in (asyncio.create_task(self._pipe(reader, up_writer, upstream=True)),
                     asyncio.create_task(self._pipe(up_reader, writer, upstream=False))):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                if upstream:
                    self.upstream_bytes += len(data)
                    if self._cut_at is not None and self.upstream_bytes >= self._cut_at:
                        self.cut()
                        return
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            self._pairs.discard(writer)


@pytest.fixture
async def proxy(db_url: str) -> AsyncIterator[TcpProxy]:
    parts = urllib.parse.urlsplit(db_url)
    p = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


def via(db_url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(db_url)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{port}")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
async def proxied_pool(db_url: str, proxy: TcpProxy) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(via(db_url, proxy.port), min_size=1, max_size=4)
    try:
        yield pool
    finally:
        proxy.cut()  # whatever is left is dead: do not wait for it
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.close(), 5)
        pool.terminate()


def batch(tag: str, n: int, t0: float = NOW - 1000) -> list[Fix]:
    return [Fix(f"{tag}-{i % 7}", t0 + i, 36.7 + i * 1e-5, 117.5) for i in range(n)]


async def stored_keys(pool: asyncpg.Pool) -> set[tuple[str, float]]:
    rows = await pool.fetch("SELECT vehicle_id, extract(epoch FROM ts)::float8 AS ts FROM positions")
    return {(r["vehicle_id"], r["ts"]) for r in rows}


async def test_submissions_wait_through_an_outage_and_nothing_is_lost(
        settings: Settings, pool: asyncpg.Pool, proxied_pool: asyncpg.Pool, proxy: TcpProxy) -> None:
    services = Services(settings=settings, pool=proxied_pool, clock=ManualClock(NOW))
    pipeline = IngestPipeline.from_services(services, buffer_max_fixes=500, max_backoff_s=0.2)
    await pipeline.start()
    try:
        assert (await pipeline.submit(batch("before", 10), source="json")).stored == 10

        proxy.cut()
        waiting = [asyncio.create_task(pipeline.submit(batch(f"during{k}", 10), source="jt808")) for k in range(20)]
        await asyncio.sleep(1.0)
        assert not any(t.done() for t in waiting), "acknowledged while PostgreSQL was away"
        stats = pipeline.statistics()
        assert stats["buffered_fixes"] == 200 and stats["storage_up"] is False and stats["storage_errors"] >= 1
        text = generate_latest(services.registry).decode()
        assert "transit_ingest_storage_up 0.0" in text and "transit_ingest_buffer_fixes 200.0" in text

        # Past the bound: refused at once, with the reason; nothing of it is kept.
        with pytest.raises(IngestUnavailable) as refused:
            await pipeline.submit(batch("overflow", 400), source="jt808")
        assert "ingest buffer full: 200 fixes wait" in refused.value.reason
        assert "limit 500" in refused.value.reason and "PostgreSQL is unreachable" in refused.value.reason
        assert refused.value.retry_after_s >= 1
        assert 'transit_rejections_total{kind="buffer_full",source="jt808"} 400.0' in (
            generate_latest(services.registry).decode())

        await proxy.restore()
        results = await asyncio.wait_for(asyncio.gather(*waiting), 30)
        assert [r.stored for r in results] == [10] * 20 and all(r.rejections == () for r in results)
        assert pipeline.statistics()["storage_up"] is True
    finally:
        await pipeline.close()

    expected = {(f.vehicle_id, f.ts) for k in range(20) for f in batch(f"during{k}", 10)}
    expected |= {(f.vehicle_id, f.ts) for f in batch("before", 10)}
    assert await stored_keys(pool) == expected


async def test_a_connection_cut_in_the_middle_of_a_copy(
        settings: Settings, pool: asyncpg.Pool, proxied_pool: asyncpg.Pool, proxy: TcpProxy) -> None:
    """Whether or not the server committed before the cut, the retry stores each fix once and does
    not call the sender's own fixes duplicates."""
    services = Services(settings=settings, pool=proxied_pool, clock=ManualClock(NOW))
    pipeline = IngestPipeline.from_services(services, max_backoff_s=0.2)
    await pipeline.start()
    try:
        await pipeline.submit(batch("warm", 7), source="json")
        big = [Fix(f"bus-{i % 500}", NOW - 3000 + i // 500, 36.7, 117.5, trip_id="T" * 20) for i in range(40_000)]
        proxy.cut_after(600_000)
        task = asyncio.create_task(pipeline.submit(big, source="json"))
        await asyncio.wait_for(proxy.cut_event.wait(), 30)
        await asyncio.sleep(0.3)
        assert not task.done()
        await proxy.restore()
        result = await asyncio.wait_for(task, 60)
        assert result.stored == 40_000 and result.rejections == ()
    finally:
        await pipeline.close()
    assert await pool.fetchval("SELECT count(*) FROM positions") == 40_007


async def test_http_senders_wait_then_get_200_or_a_clear_503(
        settings: Settings, pool: asyncpg.Pool, proxied_pool: asyncpg.Pool, proxy: TcpProxy, aiohttp_client: Any) -> None:
    small = settings.replace(**{"ingest.buffer_max_fixes": 50})
    services = Services(settings=small, pool=proxied_pool, clock=ManualClock(NOW))
    client = await aiohttp_client(create_app(services, components=[
        "transit.app.health:setup", "feeds.gps.component:setup"]))
    items = [{"vehicle_id": f.vehicle_id, "ts": f.ts, "lat": f.lat, "lon": f.lon} for f in batch("http", 30)]
    proxy.cut()
    first = asyncio.create_task(client.post("/api/v1/ingest/positions", json=items, headers=ingest_headers()))
    await asyncio.sleep(0.5)
    assert not first.done()
    second = await client.post("/api/v1/ingest/positions", json=items, headers=ingest_headers())
    assert second.status == 503
    assert int(second.headers["Retry-After"]) >= 1
    error = (await second.json())["error"]
    assert error["code"] == "ingest_unavailable" and "ingest buffer full" in error["message"]
    await proxy.restore()
    resp = await asyncio.wait_for(first, 30)
    assert resp.status == 200 and (await resp.json())["accepted"] == 30
    assert await pool.fetchval("SELECT count(*) FROM positions") == 30
