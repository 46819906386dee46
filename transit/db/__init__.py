"""PostgreSQL access: the embedded server, the asyncpg pool and schema migrations."""

from transit.db.embedded import EmbeddedPostgres
from transit.db.migrate import apply_migrations, list_migrations
from transit.db.pool import Database, open_database

__all__ = ["Database", "EmbeddedPostgres", "apply_migrations", "list_migrations", "open_database"]
