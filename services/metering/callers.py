"""Whose usage a record may carry: a key that exists, of the project it names.

A record for an unknown project, or for a key of another project, is refused as a
permanent error: a forged or corrupted record must never put a charge on a project.
A key never moves between projects, so each key's project is read once and kept;
revoked and paused keys still pass (their calls were authorized before).
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, bindparam, select

from tollgate.db import read_transaction
from tollgate.db.models import API_KEYS
from tollgate.v1 import common_pb2

PROJECT_OF_KEY = select(API_KEYS.c.project_id).where(API_KEYS.c.id == bindparam("key_id"))
ID_LIMIT = 40  # projects.id and api_keys.id
MAX_REMEMBERED = 100_000


class UnknownCaller(Exception):
    """The record's project or key does not exist, or the key is another project's."""


class CallerCheck:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._projects: dict[str, str] = {}  # key id -> its project id
        self._lock = threading.Lock()

    def check(self, caller: common_pb2.Caller) -> None:
        """Return when the caller's key belongs to its project; else UnknownCaller."""
        key_id, project_id = caller.key_id, caller.project_id
        known = self._projects.get(key_id)
        if known is None:
            known = self._read(key_id)
        if known != project_id:
            raise UnknownCaller(
                f"key {key_id[:ID_LIMIT]!r} is not a key of project {project_id[:ID_LIMIT]!r}"
            )

    def _read(self, key_id: str) -> str | None:
        if not key_id or len(key_id) > ID_LIMIT or "\x00" in key_id:
            return None  # no such id can exist; and PostgreSQL refuses a NUL in a query
        with read_transaction(self.engine) as conn:
            project_id = conn.execute(PROJECT_OF_KEY, {"key_id": key_id}).scalar()
        if project_id is None:
            return None
        with self._lock:
            if len(self._projects) >= MAX_REMEMBERED:
                self._projects.clear()
            self._projects[key_id] = str(project_id)
        return str(project_id)
