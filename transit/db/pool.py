"""The asyncpg pool, opened on the configured URL or on an embedded server in the data directory."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg

from transit.db.embedded import EmbeddedPostgres
from transit.db.migrate import apply_migrations
from transit.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Database:
    pool: asyncpg.Pool
    dsn: str
    embedded: EmbeddedPostgres | None = field(default=None)

    async def close(self) -> None:
        await self.pool.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)

    async def migrate(self) -> list[str]:
        async with self.pool.acquire() as conn:
            return await apply_migrations(conn)


async def _init_connection(conn: asyncpg.Connection) -> None:
    import json

    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"application_name": "transit", "timezone": "UTC"},
    )


async def open_database(settings: Settings, migrate: bool = True) -> Database:
    """Open the pool (starting the embedded server when no URL is set) and apply migrations."""
    embedded = None
    dsn = settings.database.url
    if dsn is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = await asyncio.to_thread(embedded.start)
    try:
        pool = await create_pool(dsn, settings.database.pool_min, settings.database.pool_max)
    except BaseException:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    db = Database(pool=pool, dsn=dsn, embedded=embedded)
    if migrate:
        applied = await db.migrate()
        if applied:
            log.info("schema migrated", extra={"applied": applied})
    return db
