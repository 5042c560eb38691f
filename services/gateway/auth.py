"""Project keys: `Authorization: Bearer tg-...` (or `x-api-key`) to a caller.

Lookups are cached. Revocation still takes effect from the next request: every
chat call passes through Budget.Authorize, which checks the key inside its
transaction and answers KEY_REVOKED, and the gateway then forgets the key. The
cache of unknown hashes is safe to keep: a new key's hash has never been seen.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Engine, select
from starlette.requests import Request

from services.gateway.errors import invalid_key
from tollgate.db.models import ApiKey, Project
from tollgate.keys import PREFIX, hash_secret


@dataclass(frozen=True)
class Caller:
    key_id: str
    project_id: str
    project: str
    currency: str


def secret_from(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    secret = value.strip() if scheme.lower() == "bearer" else ""
    secret = secret or request.headers.get("x-api-key", "").strip()
    if not secret:
        raise invalid_key(
            "You didn't provide an API key. Send it as `Authorization: Bearer tg-...`."
        )
    return secret


class _Lru(OrderedDict[str, object]):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def put(self, key: str, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class KeyCache:
    def __init__(self, engine: Engine, capacity: int = 100_000) -> None:
        self.engine = engine
        self._known = _Lru(capacity)
        self._unknown = _Lru(capacity)

    def _lookup(self, key_hash: str) -> Caller | None:
        query = (
            select(ApiKey.id, ApiKey.project_id, ApiKey.revoked_at, Project.name, Project.currency)
            .join(Project, Project.id == ApiKey.project_id)
            .where(ApiKey.key_hash == key_hash)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
            conn.rollback()
        if row is None or row.revoked_at is not None:
            return None
        return Caller(row.id, row.project_id, row.name, row.currency)

    async def resolve(self, secret: str, *, fresh: bool = False) -> Caller:
        """The caller a secret belongs to; raises a 401 ApiError when none does."""
        if not secret.startswith(PREFIX):
            raise invalid_key()
        key_hash = hash_secret(secret)
        if not fresh:
            known = self._known.get(key_hash)
            if isinstance(known, Caller):
                return known
            if key_hash in self._unknown:
                raise invalid_key()
        caller = await asyncio.to_thread(self._lookup, key_hash)
        if caller is None:
            self._known.pop(key_hash, None)
            self._unknown.put(key_hash, True)
            raise invalid_key()
        self._known.put(key_hash, caller)
        return caller

    def forget(self, secret: str) -> None:
        key_hash = hash_secret(secret)
        self._known.pop(key_hash, None)
        self._unknown.put(key_hash, True)
