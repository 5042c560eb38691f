"""Rate limits as operators set them (`tollgate limit ...`), on SQLite and PostgreSQL:
bad input exits 2 and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tollgate.db import make_engine
from tollgate.db.models import RATE_LIMITS

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def tollgate(cli) -> Run:  # type: ignore[no-untyped-def]
    """`cli` on the shared `services` (SQLite and PostgreSQL); these tests use a
    project `shop` (the services hold `shop`)."""
    return cli  # type: ignore[no-any-return]


def rows(db_url: str) -> list[dict[str, Any]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(select(RATE_LIMITS).order_by(RATE_LIMITS.c.owner_id)).all()
            conn.rollback()
        return [dict(row._mapping) for row in found]
    finally:
        engine.dispose()


def test_set_list_and_clear(tollgate: Run, db_url: str) -> None:
    assert tollgate("project", "create", "shop")[0] == 0
    key = json.loads(tollgate("key", "create", "--project", "shop", "--json")[1])["id"]
    code, out, _ = tollgate("limit", "set", "--project", "shop", "--rpm", "60", "--tpm", "90000")
    assert code == 0 and "shop: 60 requests/min, 90000 tokens/min, - concurrent" in out
    code, out, _ = tollgate("limit", "set", "--project", "shop", "--key", key, "--concurrency", "2")
    assert code == 0
    code, out, _ = tollgate("limit", "set", "--project", "shop", "--rpm", "30")  # tpm stays
    listed = json.loads(tollgate("limit", "list", "--json")[1])
    assert [(x["owner"], x["rpm"], x["tpm"], x["max_concurrent"]) for x in listed] == [
        ("shop", 30, 90000, None),
        (f"shop/{key}", None, None, 2),
    ]
    code, out, _ = tollgate("limit", "list", "--project", "shop")
    assert code == 0 and f"shop/{key}" in out and "90000" in out
    code, out, _ = tollgate("limit", "set", "--project", "shop", "--rpm", "none")
    assert code == 0 and "shop: - requests/min, 90000 tokens/min" in out
    code, out, _ = tollgate("limit", "clear", "--project", "shop", "--key", key)
    assert code == 0 and [r["owner_id"] for r in rows(db_url)] == [listed[0]["project_id"]]
    code, out, _ = tollgate("limit", "set", "--project", "shop", "--tpm", "none")
    assert code == 0 and "no rate limits" in out and rows(db_url) == []
    code, _, err = tollgate("limit", "clear", "--project", "shop")
    assert code == 2 and "has no rate limits" in err


BAD = [
    (["--rpm", "0"], "--rpm must be a positive whole number"),
    (["--tpm", "-5"], "--tpm must be a positive whole number"),
    (["--concurrency", "two"], "--concurrency must be a positive whole number"),
    (["--rpm", "1.5"], "--rpm must be a positive whole number"),
    (["--rpm", str(2**31)], "--rpm must be a positive whole number"),
    ([], "name at least one limit"),
    (["--key", "key_nope", "--rpm", "5"], "no key with id 'key_nope'"),
    (["--key", "OTHER", "--rpm", "5"], "does not belong to project 'shop'"),
]


def test_bad_input_exits_2_and_writes_nothing(tollgate: Run, db_url: str) -> None:
    tollgate("project", "create", "shop")
    tollgate("project", "create", "other")
    other_key = json.loads(tollgate("key", "create", "--project", "other", "--json")[1])["id"]
    tollgate("limit", "set", "--project", "shop", "--rpm", "7")
    before = rows(db_url)
    for args, message in BAD:
        args = [other_key if a == "OTHER" else a for a in args]
        code, out, err = tollgate("limit", "set", "--project", "shop", *args)
        assert code == 2 and message in err and out == "", args
        assert rows(db_url) == before


def test_unknown_project_exits_2(tollgate: Run, db_url: str) -> None:
    for argv in (
        ("limit", "set", "--project", "ghost", "--rpm", "5"),
        ("limit", "list", "--project", "ghost"),
        ("limit", "clear", "--project", "ghost"),
    ):
        code, _, err = tollgate(*argv)
        assert code == 2 and "no project named 'ghost'" in err
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RATE_LIMITS)).scalar() == 0
    engine.dispose()
