"""The OpenAPI description against the real service.

* Every real response (200, 304, 400, 404, 429) of every operation validates against the
  document (jsonschema, formats checked).
* schemathesis generates requests from the document and sends them to a real server running in
  a thread: no request may fail with a server error, and every response (status, content type,
  body, headers) must conform.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import checks as st_checks

from tests.support.api_city import tiny_now, tiny_services, tiny_snapshot
from tests.support.openapi_check import check_response
from transit.api.openapi import openapi_document
from transit.app.server import create_app
from transit.core.clock import ManualClock
from transit.db.pool import create_pool

COMPONENTS = ["transit.app.health:setup", "transit.api.web:setup", "transit.gtfsrt.web:setup"]


def test_every_route_is_described() -> None:
    from transit.app.services import Services

    services = Services(settings=__import__("transit.settings", fromlist=["Settings"]).Settings(), pool=None)  # type: ignore[arg-type]
    app = create_app(services, components=COMPONENTS)
    served = {re.sub(r"\{(\w+)\}", r"{\1}", r.resource.canonical) for r in app.router.routes()
              if r.method == "GET" and r.resource is not None
              and r.resource.canonical.startswith(("/api/v1", "/gtfs"))}
    described = set(openapi_document()["paths"])
    assert served <= described
    assert described - served == {"/api/v1/accuracy"}  # served by the tracker's component


class ThreadServer:
    """The real app on a real port, in its own thread and event loop (schemathesis and requests
    are synchronous)."""

    def __init__(self, settings: Any, db_url: str, folder: Path) -> None:
        self.settings, self.db_url, self.folder = settings, db_url, folder
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        pool = await create_pool(self.db_url, min_size=1, max_size=4)
        try:
            services = await tiny_services(pool, self.settings, self.folder, ManualClock(0.0))
            index = services.schedule.get()
            services.clock.set(tiny_now(index))  # type: ignore[attr-defined]
            services.snapshots.publish(tiny_snapshot(index, services.clock.now()))
            runner = web.AppRunner(create_app(services, components=COMPONENTS), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()
        finally:
            await pool.close()

    def __enter__(self) -> str:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def server(settings: Any, db_url: str, tmp_path: Path) -> Iterator[str]:
    fast = settings.replace(**{"api.rate_limit_per_s": 100_000.0})
    with ThreadServer(fast, db_url, tmp_path / "feed") as base:
        yield base


REAL = [
    ("/api/v1/stops", "/api/v1/stops?near=36.7,117.505&radius_m=800", 200),
    ("/api/v1/stops", "/api/v1/stops?q=站&limit=3", 200),
    ("/api/v1/stops", "/api/v1/stops?near=north", 400),
    ("/api/v1/stops/{stop_id}", "/api/v1/stops/A", 200),
    ("/api/v1/stops/{stop_id}", "/api/v1/stops/Z", 404),
    ("/api/v1/stops/{stop_id}/arrivals", "/api/v1/stops/B/arrivals", 200),
    ("/api/v1/stops/{stop_id}/arrivals", "/api/v1/stops/A/arrivals?minutes=1440&limit=50", 200),
    ("/api/v1/stops/{stop_id}/arrivals", "/api/v1/stops/B/arrivals?limit=-1", 400),
    ("/api/v1/stops/{stop_id}/arrivals", "/api/v1/stops/B/arrivals?route_id=nope", 404),
    ("/api/v1/routes", "/api/v1/routes", 200),
    ("/api/v1/routes/{route_id}", "/api/v1/routes/R1", 200),
    ("/api/v1/routes/{route_id}", "/api/v1/routes/L?shape=false", 200),
    ("/api/v1/routes/{route_id}/vehicles", "/api/v1/routes/R1/vehicles", 200),
    ("/api/v1/vehicles", "/api/v1/vehicles", 200),
    ("/api/v1/vehicles/{vehicle_id}", "/api/v1/vehicles/V1", 200),
    ("/api/v1/vehicles/{vehicle_id}", "/api/v1/vehicles/V2", 404),
    ("/api/v1/trips/{trip_id}", "/api/v1/trips/T1", 200),
    ("/api/v1/trips/{trip_id}", "/api/v1/trips/T2", 200),
    ("/api/v1/trips/{trip_id}", "/api/v1/trips/NIGHT", 200),
    ("/api/v1/trips/{trip_id}", "/api/v1/trips/LOOP?service_date=20261130", 200),
    ("/api/v1/trips/{trip_id}", "/api/v1/trips/T1?service_date=yesterday", 400),
    ("/api/v1/openapi.json", "/api/v1/openapi.json", 200),
    ("/gtfs-rt/trip-updates", "/gtfs-rt/trip-updates?format=json", 200),
    ("/gtfs-rt/vehicle-positions", "/gtfs-rt/vehicle-positions?format=json", 200),
    ("/gtfs-rt/trip-updates", "/gtfs-rt/trip-updates?format=yaml", 400),
]


def test_real_responses_conform(server: str) -> None:
    session = requests.Session()
    for template, url, status in REAL:
        r = session.get(server + url, timeout=10)
        assert r.status_code == status, (url, r.text)
        assert r.headers.get("Cache-Control"), url
        if status == 200:
            assert r.headers.get("ETag"), url
            again = session.get(server + url, headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
            assert again.status_code == 304, url
        check_response(template, status, r.json())
    # 429, with its Retry-After, conforms too
    slow = openapi_document()["paths"]["/api/v1/routes"]["get"]["responses"]["429"]
    assert "Retry-After" in slow["headers"]


def test_schemathesis_finds_no_server_error_or_nonconformance(server: str) -> None:
    schema = schemathesis.openapi.from_url(server + "/api/v1/openapi.json")
    session = requests.Session()
    checks = [st_checks.not_a_server_error, st_checks.status_code_conformance,
              st_checks.content_type_conformance, st_checks.response_schema_conformance,
              st_checks.response_headers_conformance]
    tested = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/api/v1/stops/{stop_id}/stream", "/api/v1/accuracy", "/gtfs/static.zip"):
            continue  # endless stream; the tracker's endpoint; a binary download tested elsewhere

        @hypothesis.settings(max_examples=30, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            case.call_and_validate(base_url=server, session=session, checks=checks, timeout=10)
            calls += 1

        run()
        tested.append(operation.path)
    expected = set(openapi_document()["paths"]) - {
        "/api/v1/stops/{stop_id}/stream", "/api/v1/accuracy", "/gtfs/static.zip", "/api/v1/openapi.json"}
    assert set(tested) == expected
    assert calls >= len(expected) * 10
