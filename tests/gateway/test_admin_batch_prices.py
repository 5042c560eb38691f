"""Batch prices as operators set and see them, on SQLite and PostgreSQL: PUT
/admin/prices/{model} takes batch_input, batch_output and batch_cached_input, the
listing shows the batch price in force (its own, or the default rule's), half a
batch price is a 400 naming the field and writes nothing; `tollgate price set
--batch-input/--batch-output` and `price list` say the same over gRPC."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import func, select

from tests.gateway.conftest import World, ok
from tollgate.db.models import PRICES

Run = Callable[..., tuple[int, str, str]]


def _versions(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PRICES)).scalar_one())


def test_the_admin_api_sets_and_lists_batch_prices(world: World) -> None:
    http = world.http
    body = {"input": "3", "output": "15", "cached_input": "0.3", "currency": "USD"}
    own = ok(
        http.put(
            "/admin/prices/claude-own",
            json={**body, "batch_input": "1.5", "batch_output": "7.5"},
        )
    )
    assert (own["batch_input"], own["batch_output"], own["batch_cached_input"]) == (
        "1.50",
        "7.50",
        "0.15",  # unset: the cached price scaled as the batch input is to the input
    )
    assert own["batch_default"] is False
    default = ok(http.put("/admin/prices/claude-default", json=body))
    assert (default["batch_input"], default["batch_output"], default["batch_default"]) == (
        "1.50",
        "7.50",
        True,
    )
    listed = {p["model"]: p for p in ok(http.get("/admin/prices"))["data"]}
    assert listed["claude-own"] == own and listed["claude-default"] == default
    assert (listed["demo"]["batch_input"], listed["demo"]["batch_default"]) == ("21.00", True)

    before = _versions(world)
    for wrong, param in [
        ({"batch_input": "1"}, "batch_output"),
        ({"batch_output": "1"}, "batch_input"),
        ({"batch_cached_input": "0.1"}, "batch_input"),
        ({"batch_input": "-1", "batch_output": "1"}, "batch_input"),
        ({"batch_input": 1.5, "batch_output": "1"}, "batch_input"),
        ({"batch_input": "1", "batch_output": "0.0000000001"}, "batch_output"),
    ]:
        reply = http.put("/admin/prices/claude-own", json={**body, **wrong})
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["param"] == param, reply.text
    assert _versions(world) == before


def test_the_cli_sets_and_lists_batch_prices(world: World, cli: Run) -> None:
    code, out, err = cli(
        "price",
        "set",
        "gpt-own",
        "--input",
        "2",
        "--output",
        "8",
        "--currency",
        "USD",
        "--batch-input",
        "0.9",
        "--batch-output",
        "3.6",
    )
    assert code == 0, err
    assert "batch input 0.90, output 3.60, cached 0.90" in out
    code, out, _ = cli(
        "price", "set", "gpt-half", "--input", "2", "--output", "8", "--currency", "USD"
    )
    assert "batch (default) input 1.00, output 4.00, cached 1.00" in out
    code, out, err = cli(
        "price",
        "set",
        "gpt-bad",
        "--input",
        "2",
        "--output",
        "8",
        "--currency",
        "USD",
        "--batch-input",
        "1",
    )
    assert code != 0 and "batch_output" in err
    code, out, _ = cli("price", "list")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows["gpt-own"].split()[-2:] == ["0.90", "3.60"]
    assert rows["gpt-half"].split()[-2:] == ["1.00", "4.00*"]
    code, out, _ = cli("price", "list", "--json")
    shown = {p["model"]: p for p in json.loads(out)}
    assert (shown["gpt-own"]["batch_input"], shown["gpt-own"]["batch_default"]) == ("0.90", False)
