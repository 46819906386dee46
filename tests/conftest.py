"""Shared fixtures: a real PostgreSQL for every test, fresh per test, and the shared data sets.

On this project's machines ``TRANSIT_TEST_DATABASE_URL`` names a running server; elsewhere the
session starts a throwaway embedded PostgreSQL.  A template database is migrated once per run and
every test gets its own copy (``CREATE DATABASE ... TEMPLATE``), so tests never see each other's
rows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from transit.db.migrate import apply_migrations
from transit.db.pool import create_pool
from transit.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
INGEST_TOKEN = "test-ingest-token"
ADMIN_TOKEN = "test-admin-token"


def run_sync(coro_fn: Callable[[], Any]) -> Any:
    """Run a coroutine on a private loop in a thread (safe beside pytest-asyncio's loop)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_fn())
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("TRANSIT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from transit.db.embedded import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix="transit-test-pg-"))
    server = EmbeddedPostgres(folder)
    dsn = server.start()
    try:
        yield dsn
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    name = f"transit_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(_with_database(pg_server_url, name))
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_sync(create)
    try:
        yield name
    finally:
        run_sync(drop)


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test only."""
    name = f"transit_t_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_sync(create)
    try:
        yield _with_database(pg_server_url, name)
    finally:
        run_sync(drop)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, min_size=1, max_size=8)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "database.url": db_url,
            "data_dir": tmp_path / "data",
            "ingest.token": INGEST_TOKEN,
            "admin.token": ADMIN_TOKEN,
            "http.port": 0,
            "jt808.port": 0,
        },
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared data sets are not here ({SHARED_DATA}); they live beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def capmetro_gtfs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The GTFS rebuilt from the Capital Metro extracts (built once per run)."""
    from feeds.gtfs.capmetro import convert

    out = tmp_path_factory.mktemp("capmetro") / "gtfs"
    convert(shared_data / "capmetro", out)
    return out


def ingest_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {INGEST_TOKEN}"}


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
