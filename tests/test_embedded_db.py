"""With no database URL the service runs an embedded PostgreSQL in its data directory."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from transit.db.pool import open_database
from transit.settings import load_settings


def _postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().splitlines()[0])


@pytest.mark.timeout(180)
async def test_embedded_postgres_starts_stops_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"data_dir": tmp_path / "data"})
    assert settings.database.url is None

    db = await open_database(settings)
    assert db.embedded is not None and db.embedded.running
    pid = _postmaster_pid(tmp_path / "data")
    assert pid is not None and psutil.pid_exists(pid)
    tables = await db.pool.fetchval("SELECT count(*) FROM schema_migrations")
    assert tables >= 1  # migrated on start
    await db.pool.execute("CREATE TABLE kept (note text)")
    await db.pool.execute("INSERT INTO kept VALUES ($1)", "章丘 survives a restart")
    await db.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _postmaster_pid(tmp_path / "data") is None  # clean shutdown removes the pid file

    again = await open_database(settings)
    try:
        assert await again.pool.fetchval("SELECT note FROM kept") == "章丘 survives a restart"
        assert await again.migrate() == []  # nothing to apply twice
    finally:
        await again.close()
