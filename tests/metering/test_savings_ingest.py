"""What each call saved: metering settles with a reference (the asked model, the usage
before compaction) and Budget prices it at the whole price in force at the call's
start, with the project's multiplier and currency; the ledger keeps saved_nano =
reference - cost (never negative) and the routing columns. SQLite and PostgreSQL."""

from __future__ import annotations

from fractions import Fraction

import grpc
import pytest
from sqlalchemy import select

from services.budget.admin import operations as admin
from tests.metering.services import Services, record
from tollgate.db.models import LEDGER
from tollgate.v1 import budget_pb2, common_pb2

# The test prices (per million tokens) that the `priced` fixture sets.
BIG = {"input": Fraction(10), "output": Fraction(30), "cached": Fraction(1)}
SMALL = {"input": Fraction("1.5"), "output": Fraction(6), "cached": Fraction("0.15")}


def _nano(price: dict[str, Fraction], prompt: int, completion: int, cached: int = 0) -> Fraction:
    per_million = (
        (prompt - cached) * price["input"] + cached * price["cached"] + completion * price["output"]
    )
    return per_million / 10**6 * 10**9


def _half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))


def _row(s: Services, request_id: str):  # type: ignore[no-untyped-def]
    with s.engine.connect() as conn:
        return conn.execute(select(LEDGER).where(LEDGER.c.request_id == request_id)).one()


def test_a_downgrade_saves_the_asked_models_price_less_the_served_ones(priced: Services) -> None:
    s = priced
    record(
        s,
        "down",
        12_345,
        678,
        model_requested="big",
        model_served="small",
        reference_model="big",
        deployment="openai/small",
        attempts=2,
        route_reason=common_pb2.ROUTE_REASON_DOWNGRADE,
    )
    row = _row(s, "down")
    cost = _half_up(_nano(SMALL, 12_345, 678))
    reference = _half_up(_nano(BIG, 12_345, 678))
    assert row.cost_nano == cost
    assert row.saved_nano == reference - cost > 0
    assert (row.route_reason, row.deployment, row.attempts, row.cache_hit) == (
        "downgrade",
        "openai/small",
        2,
        False,
    )


def test_a_fallback_to_a_dearer_model_saves_nothing(priced: Services) -> None:
    s = priced
    record(
        s,
        "fb",
        1000,
        100,
        model_served="big",
        reference_model="small",
        route_reason=common_pb2.ROUTE_REASON_FALLBACK,
    )
    row = _row(s, "fb")
    assert row.cost_nano == _half_up(_nano(BIG, 1000, 100))
    assert (row.saved_nano, row.route_reason) == (0, "fallback")


def test_compaction_saves_the_removed_tokens_at_the_input_price_with_multiplier_and_currency(
    priced: Services,
) -> None:
    """`usd` is priced in USD; the project is CNY with a 1.15 multiplier."""
    s = priced
    admin.set_price_multiplier(s.engine, "acme", "1.15")
    record(s, "cmp", 5000, 300, model_served="usd", compacted_tokens=777)
    row = _row(s, "cmp")
    rate = Fraction("7.2") * Fraction("1.15")
    cost = _half_up(_nano(BIG, 5000, 300) * rate)
    reference = _half_up(_nano(BIG, 5000 + 777, 300) * rate)
    assert (row.cost_nano, row.saved_nano) == (cost, reference - cost)
    assert (row.compacted_tokens, row.route_reason) == (777, "asked")


def test_a_call_served_as_asked_saves_nothing_and_old_style_records_still_ingest(
    priced: Services,
) -> None:
    record(priced, "plain", 1000, 10, model_served="big")
    row = _row(priced, "plain")
    assert (row.saved_nano, row.route_reason, row.deployment, row.attempts) == (0, "asked", "", 0)


def test_a_failed_call_costs_and_saves_nothing(priced: Services) -> None:
    from tollgate.v1 import metering_pb2

    record(
        priced,
        "failed",
        1000,
        10,
        model_served="small",
        reference_model="big",
        status=metering_pb2.CALL_STATUS_FAILED,
        route_reason=common_pb2.ROUTE_REASON_PRIORITY,
    )
    row = _row(priced, "failed")
    assert (row.cost_nano, row.saved_nano) == (0, 0)


def test_a_cache_hit_is_billed_at_its_fraction_and_saves_the_rest(priced: Services) -> None:
    s = priced
    record(
        s,
        "hit",
        4_000,
        900,
        model_served="big",
        reference_model="big",
        cache_hit=True,
        attempts=0,
        route_reason=common_pb2.ROUTE_REASON_CACHE,
        cost_fraction="0.1",
    )
    row = _row(s, "hit")
    whole = _nano(BIG, 4_000, 900)
    assert row.cost_nano == _half_up(whole / 10)
    assert row.saved_nano == _half_up(whole) - row.cost_nano
    assert (row.cache_hit, row.route_reason, row.attempts) == (True, "cache", 0)


def _settle(s: Services, request_id: str, **kw: object) -> budget_pb2.SettleResponse:
    fields: dict[str, object] = {
        "request_id": request_id,
        "caller": common_pb2.Caller(project_id=s.project, key_id=s.key),
        "model": "small",
        "usage": common_pb2.Usage(prompt_tokens=4000, completion_tokens=900, cached_tokens=1000),
        **kw,
    }
    reply: budget_pb2.SettleResponse = s.budget.Settle(budget_pb2.SettleRequest(**fields))
    return reply


def test_settle_bills_a_cache_hit_at_its_fraction_and_is_idempotent(priced: Services) -> None:
    s = priced
    usage = common_pb2.Usage(prompt_tokens=4000, completion_tokens=900, cached_tokens=1000)
    terms = {"cost_fraction": "0.1", "reference_model": "big", "reference_usage": usage}
    first = _settle(s, "hit", **terms)
    whole_small = _nano(SMALL, 4000, 900, 1000)
    assert Fraction(first.cost.amount) * 10**9 == _half_up(whole_small / 10)
    assert Fraction(first.reference_cost.amount) * 10**9 == _half_up(_nano(BIG, 4000, 900, 1000))
    assert first.reference_cost.currency == first.cost.currency == "CNY"
    again = _settle(s, "hit", **terms)
    assert again.already_settled and not first.already_settled
    assert (again.cost, again.reference_cost) == (first.cost, first.reference_cost)
    free = _settle(s, "free", cost_fraction="0", reference_model="small", reference_usage=usage)
    assert Fraction(free.cost.amount) == 0
    assert Fraction(free.reference_cost.amount) * 10**9 == _half_up(whole_small)


def test_settle_without_a_reference_answers_the_cost_itself(priced: Services) -> None:
    reply = _settle(priced, "noref")
    assert reply.reference_cost == reply.cost
    unpriced = _settle(priced, "unpriced", reference_model="no-such-model")
    assert unpriced.reference_cost == unpriced.cost


@pytest.mark.parametrize("fraction", ["1.5", "-0.1", "abc", "0.1234567891", "NaN"])
def test_settle_refuses_a_bad_cost_fraction(priced: Services, fraction: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _settle(priced, f"bad-{fraction}", cost_fraction=fraction)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as negative:
        _settle(
            priced,
            "neg",
            reference_model="big",
            reference_usage=common_pb2.Usage(prompt_tokens=-1),
        )
    assert negative.value.code() == grpc.StatusCode.INVALID_ARGUMENT
