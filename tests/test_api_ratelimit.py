"""Per-client rate limit: the token bucket itself, then 429 + Retry-After through the real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.api_city import tiny_now, tiny_services, tiny_snapshot
from transit.api.ratelimit import RateLimiter
from transit.app.server import create_app
from transit.core.clock import ManualClock


def test_token_bucket() -> None:
    limiter = RateLimiter(2.0)  # 2/s, bursts of 4
    assert [limiter.check("a", 100.0) for _ in range(4)] == [0.0] * 4
    wait = limiter.check("a", 100.0)
    assert wait == 0.5  # one token comes back in half a second
    assert limiter.check("b", 100.0) == 0.0  # other clients are not affected
    assert limiter.check("a", 100.5) == 0.0
    assert limiter.check("a", 100.5) > 0
    assert limiter.check("a", 200.0) == 0.0  # refilled (to the burst, not beyond)
    assert [limiter.check("a", 200.0) for _ in range(4)].count(0.0) == 3
    assert RateLimiter.retry_after(0.2) == "1" and RateLimiter.retry_after(1.01) == "2"


def test_bucket_table_is_bounded() -> None:
    limiter = RateLimiter(10.0, max_clients=100)
    for i in range(1000):
        limiter.check(f"10.0.{i // 256}.{i % 256}", float(i))
    assert limiter.statistics()["clients"] <= 100


async def _client(aiohttp_client, pool, settings, tmp_path: Path, **api):  # type: ignore[no-untyped-def]
    settings = settings.replace(**{f"api.{k}": v for k, v in api.items()})
    services = await tiny_services(pool, settings, tmp_path / "feed", ManualClock(0.0))
    index = services.schedule.get()
    services.clock.set(tiny_now(index))  # type: ignore[attr-defined]
    services.snapshots.publish(tiny_snapshot(index, services.clock.now()))
    app = create_app(services, components=["transit.app.health:setup", "transit.api.web:setup",
                                           "transit.gtfsrt.web:setup"])
    return await aiohttp_client(app)


async def test_429_with_retry_after(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, pool, settings, tmp_path, rate_limit_per_s=1.0)
    statuses = [(await client.get("/api/v1/stops/B/arrivals")).status for _ in range(2)]
    assert statuses == [200, 200]  # the burst
    r = await client.get("/gtfs-rt/trip-updates")  # one bucket per client, whatever the endpoint
    assert r.status == 429 and r.headers["Retry-After"] == "1"
    err = (await r.json())["error"]
    assert err["code"] == "rate_limited" and err["retry_after_s"] == 1
    await asyncio.sleep(1.05)  # obeying Retry-After is enough
    assert (await client.get("/api/v1/stops/B/arrivals")).status == 200
    metrics = await (await client.get("/metrics")).text()  # not rate limited: operators' page
    assert "transit_api_rate_limited_total 1.0" in metrics


async def test_forwarded_for_only_when_trusted(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, pool, settings, tmp_path, rate_limit_per_s=1.0)
    got = [(await client.get("/api/v1/routes", headers={"X-Forwarded-For": f"10.0.0.{i}"})).status for i in range(3)]
    assert got == [200, 200, 429]  # not trusted: a client cannot dodge its limit with a header


async def test_each_client_behind_the_proxy_has_its_own_bucket(aiohttp_client, pool, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, pool, settings, tmp_path / "t", rate_limit_per_s=1.0,
                           trust_forwarded_for=True)

    async def get(chain: str) -> int:
        return (await client.get("/api/v1/routes", headers={"X-Forwarded-For": chain})).status

    assert [await get("1.1.1.1, 10.0.0.1") for _ in range(3)] == [200, 200, 429]
    assert await get("1.1.1.1, 10.0.0.2") == 200  # the proxy's entry (rightmost) is the client
    assert await get("9.9.9.9, 10.0.0.1") == 429  # a forged left part does not help
