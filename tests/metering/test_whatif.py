"""What-if equals a hand computation on a fixed ledger, exactly (Fraction arithmetic,
one half-up rounding per served model), on every front: Metering's GetWhatIf (prices
from Budget's GetPrices), `tollgate report whatif` and the admin API. Bad input is a
clear refusal. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import grpc
import pytest

from services.budget.admin import operations as admin
from services.metering.ledger import UsageLedger
from services.metering.levers_wire import previous_period
from tests.metering.ledger_rows import entry
from tests.metering.services import Services
from tollgate.reports.levers import whatif_json
from tollgate.v1 import budget_pb2, metering_pb2

MONTH = "2026-10"
IN_MONTH = datetime(2026, 10, 14, 12, tzinfo=UTC)
# Per million tokens: (input, output, cached input, cache write); see the `priced` fixture.
BIG = (Fraction(10), Fraction(30), Fraction(1), Fraction(10))
SMALL = (Fraction("1.5"), Fraction(6), Fraction("0.15"), Fraction("1.5"))
USD = (Fraction(10), Fraction(30), Fraction(1), Fraction(10))
MULTIPLIER = Fraction("1.15")

# (id, model, prompt, completion, cached, cache_write, cost_nano, extra fields)
ROWS: list[tuple[str, str, int, int, int, int, int, dict[str, Any]]] = [
    ("b1", "big", 1_000_000, 200_000, 100_000, 0, 16_000_000_000, {}),
    ("b2", "big", 333_333, 77_777, 0, 12_345, 5_000_000_001, {}),
    ("hit", "big", 4_000, 500, 0, 0, 7_000, {"cache_hit": True, "route_reason": "cache"}),
    ("s1", "small", 50_000, 10_000, 0, 0, 135_000_000, {}),
    ("u1", "usd", 10_001, 1_003, 7, 0, 999, {}),
    # Not counted: a failed call, another month, another project.
    ("failed", "big", 9_999, 0, 0, 0, 0, {"status": "failed"}),
    ("nov", "big", 1, 1, 0, 0, 1, {"started_at": datetime(2026, 11, 1, tzinfo=UTC)}),
    ("other", "big", 1, 1, 0, 0, 1, {"project_id": "OTHER"}),
]


@pytest.fixture
def fixed_ledger(priced: Services) -> Services:
    s = priced
    admin.set_price_multiplier(s.engine, "acme", "1.15")
    other = admin.create_project(s.engine, "other").id
    ledger = UsageLedger(s.engine)
    for request_id, model, prompt, completion, cached, writes, cost, extra in ROWS:
        fields = {"project_id": s.project, "started_at": IN_MONTH, **extra}
        if fields["project_id"] == "OTHER":
            fields["project_id"] = other
        started = fields.pop("started_at")
        ledger.add(
            entry(
                request_id,
                started,
                cost,
                model_served=model,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cached_tokens=cached,
                cache_write_tokens=writes,
                **fields,
            )
        )
    return s


def _priced(price: tuple[Fraction, ...], rows: list[tuple[int, int, int, int]]) -> Fraction:
    """Nano-units, exact, of rows of (prompt, completion, cached, cache_write)."""
    per_million = sum(
        (p - c - w) * price[0] + c * price[2] + w * price[3] + o * price[1] for p, o, c, w in rows
    )
    return Fraction(per_million) / 10**6 * 10**9


def _half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))


def _tokens(*ids: str) -> list[tuple[int, int, int, int]]:
    return [(r[2], r[3], r[4], r[5]) for r in ROWS if r[0] in ids]


def _amount(text: str) -> int:
    return int(Decimal(text) * 10**9)


def test_whatif_maps_a_model_and_keeps_actual_cache_hits(fixed_ledger: Services) -> None:
    s = fixed_ledger
    request = metering_pb2.WhatIfRequest(project_id=s.project, month=MONTH)
    request.model_map["big"] = "small"
    shown = whatif_json(s.metering.GetWhatIf(request))
    by_model = {line["model"]: line for line in shown["lines"]}
    # By hand: big's non-hit calls at small's price; the hit keeps its actual 7,000 nano.
    big = _half_up(_priced(SMALL, _tokens("b1", "b2")) * MULTIPLIER) + 7_000
    small = _half_up(_priced(SMALL, _tokens("s1")) * MULTIPLIER)
    usd = _half_up(_priced(USD, _tokens("u1")) * Fraction("7.2") * MULTIPLIER)
    assert {m: _amount(line["what_if"]) for m, line in by_model.items()} == {
        "big": big,
        "small": small,
        "usd": usd,
    }
    actual = 16_000_000_000 + 5_000_000_001 + 7_000 + 135_000_000 + 999
    assert _amount(shown["actual"]) == actual
    assert _amount(shown["what_if"]) == big + small + usd
    assert _amount(shown["difference"]) == big + small + usd - actual
    assert (by_model["big"]["priced_as"], by_model["big"]["requests"]) == ("small", 3)
    assert by_model["big"]["input_tokens"] == 1_000_000 + 333_333 + 4_000
    assert shown["currency"] == "CNY" and shown["month"] == MONTH


def test_whatif_with_a_price_and_a_cache_hit_rate_on_every_front(
    fixed_ledger: Services, operator: Any
) -> None:
    s = fixed_ledger
    request = metering_pb2.WhatIfRequest(project_id=s.project, month=MONTH, cache_hit_rate="0.3")
    request.model_map["big"] = "small"
    request.prices["small"].CopyFrom(metering_pb2.PriceOverride(input="2", output="8"))
    shown = whatif_json(s.metering.GetWhatIf(request))
    factor = MULTIPLIER * Fraction(7, 10)
    override = (Fraction(2), Fraction(8), Fraction(2), Fraction(2))  # cached and writes at input
    expected = {
        "big": _half_up(_priced(override, _tokens("b1", "b2", "hit")) * factor),
        "small": _half_up(_priced(override, _tokens("s1")) * factor),
        "usd": _half_up(_priced(USD, _tokens("u1")) * Fraction("7.2") * factor),
    }
    assert {line["model"]: _amount(line["what_if"]) for line in shown["lines"]} == expected
    assert _amount(shown["what_if"]) == sum(expected.values())
    argv = ["report", "whatif", "--project", "acme", "--month", MONTH, "--map", "big=small"]
    argv += ["--price", "small=2,8", "--cache-hit-rate", "0.3", "--json"]
    code, out, err = operator.cli(*argv)
    assert code == 0, err
    assert json.loads(out) == shown
    params = {"month": MONTH, "map": "big=small", "price": "small=2,8", "cache_hit_rate": "0.3"}
    assert operator.http.get("/admin/projects/acme/whatif", params=params).json() == shown
    code, out, _ = operator.cli(*argv[:-1])
    assert code == 0 and "difference: CNY -" in out


def test_budget_get_prices_answers_current_versions_and_the_rate(priced: Services) -> None:
    reply = priced.budget.GetPrices(budget_pb2.GetPricesRequest(models=["big", "usd", "nope"]))
    assert reply.usd_to_cny == "7.2"
    assert [(p.model, p.currency, p.input, p.output, p.cached_input) for p in reply.prices] == [
        ("big", "CNY", "10.00", "30.00", "1.00"),
        ("usd", "USD", "10.00", "30.00", "1.00"),
    ]


BAD_INPUT = [
    ("--map", "big", "map"),
    ("--map", "=small", "map"),
    ("--price", "small=2", "price"),
    ("--price", "small=2,x", "price"),
    ("--price", "small=-1,2", "price"),
    ("--cache-hit-rate", "1.5", "cache_hit_rate"),
    ("--cache-hit-rate", "lots", "cache_hit_rate"),
    ("--month", "2026-13", "month"),
    ("--map", "big=unpriced-model", "price"),
]


def test_bad_whatif_input_is_a_clear_refusal(fixed_ledger: Services, operator: Any) -> None:
    for option, value, param in BAD_INPUT:
        _refused(operator, option, value, param)


def _refused(operator: Any, option: str, value: str, param: str) -> None:
    code, _, err = operator.cli(
        "report", "whatif", "--project", "acme", "--month", MONTH, option, value
    )
    assert code == 2 and err.startswith("tollgate: "), err
    query = {"month": MONTH, option.removeprefix("--").replace("-", "_"): value}
    reply = operator.http.get("/admin/projects/acme/whatif", params=query)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


def test_whatif_rpc_refusals(fixed_ledger: Services, operator: Any) -> None:
    s = fixed_ledger
    with pytest.raises(grpc.RpcError) as bad:
        s.metering.GetWhatIf(metering_pb2.WhatIfRequest(project_id=s.project, cache_hit_rate="2"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as missing:
        s.metering.GetWhatIf(metering_pb2.WhatIfRequest(project_id="nope", month=MONTH))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert operator.http.get("/admin/projects/nope/whatif").status_code == 404
    # Last month by default.
    last = whatif_json(s.metering.GetWhatIf(metering_pb2.WhatIfRequest(project_id=s.project)))
    assert last["month"] == previous_period()
    if last["month"] == "2026-11":  # the one November call
        assert [(line["model"], line["requests"]) for line in last["lines"]] == [("big", 1)]
