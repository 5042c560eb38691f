"""Storage shared by the services: the schema, engines and migrations."""

from tollgate.db.engine import as_utc, is_sqlite, make_engine, read_transaction, utcnow
from tollgate.db.migrate import upgrade

__all__ = ["as_utc", "is_sqlite", "make_engine", "read_transaction", "upgrade", "utcnow"]
