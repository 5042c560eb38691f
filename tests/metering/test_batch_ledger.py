"""Batch API lines in the ledger, SQLite and PostgreSQL: a usage record with a batch id
is settled at the batch price (the hold its Authorize made is freed), written once
as a row tagged with its batch, exported with the tag (ExportCalls, `tollgate calls`
CSV), part of the project's bill like any call, and saved under the `batch` lever;
a batch's bill is the sum of its lines at the batch price, to the last digit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select

from services.budget.admin import operations as admin
from services.budget.prices import PriceInput, set_price
from tests.metering.services import Services, record
from tollgate.db import utcnow
from tollgate.db.models import LEDGER
from tollgate.money import to_nano
from tollgate.v1 import budget_pb2, common_pb2, metering_pb2

# An OpenAI-named model priced in the project's currency (CNY) at odd nano-unit prices
# per million tokens, so half of a line's exact cost is rarely a whole nano-unit: a
# price halved and rounded would not bill what the cost halved and rounded once does.
MODEL = "gpt-odd"
INPUT, OUTPUT, CACHED = Fraction("1.000000003"), Fraction("4.000000007"), Fraction("0.1")
BATCH = "batch_6f1c2a"


def _priced(s: Services) -> None:
    with s.engine.begin() as conn:
        set_price(
            conn,
            PriceInput(MODEL, "1.000000003", "4.000000007", "0.1", "CNY"),
            effective_from=utcnow() - timedelta(hours=1),
        )


def _whole(prompt: int, completion: int, cached: int = 0) -> Fraction:
    """A call's exact cost in nano-units at the whole price."""
    per_million = (prompt - cached) * INPUT + cached * CACHED + completion * OUTPUT
    return per_million / 10**6 * 10**9


def _half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))


def _line(s: Services, request_id: str, prompt: int, completion: int, **kw: Any) -> Any:
    return record(
        s,
        request_id,
        prompt,
        completion,
        model_requested=MODEL,
        model_served=MODEL,
        provider="openai",
        batch_id=BATCH,
        **kw,
    )


def _rows(s: Services, **where: Any) -> list[Any]:
    query = select(LEDGER).where(*(LEDGER.c[k] == v for k, v in where.items()))
    with s.engine.connect() as conn:
        return list(conn.execute(query.order_by(LEDGER.c.request_id)).all())


def test_a_batch_line_is_billed_at_the_batch_price_once_and_tagged(services: Services) -> None:
    s = services
    _priced(s)
    first = _line(s, "line-1", 123_457, 9_877)
    again = _line(s, "line-1", 123_457, 9_877)  # a repeated delivery
    direct = record(s, "direct", 123_457, 9_877, model_requested=MODEL, model_served=MODEL)
    cost = _half_up(_whole(123_457, 9_877) / 2)
    assert to_nano(first.cost.amount) == cost
    assert (again.duplicate, to_nano(again.cost.amount)) == (True, cost)
    assert to_nano(direct.cost.amount) == _half_up(_whole(123_457, 9_877))
    (row,) = _rows(s, request_id="line-1")
    assert (row.batch_id, row.cost_nano) == (BATCH, cost)
    # Its reference is the whole price: it saved the batch discount.
    assert row.saved_nano == _half_up(_whole(123_457, 9_877)) - cost
    assert _rows(s, request_id="direct")[0].batch_id == ""
    assert len(_rows(s, batch_id=BATCH)) == 1


def test_a_batch_bill_is_the_sum_of_its_lines_at_the_batch_price(services: Services) -> None:
    s = services
    _priced(s)
    usages = [(1_000 + 7 * n, 300 + 13 * n, (n * 97) % 500) for n in range(40)]
    expected = 0
    for n, (prompt, completion, cached) in enumerate(usages):
        usage = common_pb2.Usage(
            prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached
        )
        _line(s, f"line-{n:02}", prompt, completion, usage=usage)
        expected += _half_up(_whole(prompt, completion, cached) / 2)
    failed = metering_pb2.CALL_STATUS_FAILED
    _line(s, "line-failed", 5_000, 0, status=failed, http_status=500)
    record(s, "direct", 1_000, 1_000, model_requested=MODEL, model_served=MODEL)
    with s.engine.connect() as conn:
        summed = conn.execute(
            select(func.sum(LEDGER.c.cost_nano), func.count()).where(LEDGER.c.batch_id == BATCH)
        ).one()
    assert (int(summed[0]), summed[1]) == (expected, 41)  # the failed line costs nothing
    # The project's bill counts the lines like any call, to the last digit.
    bill = s.metering.GetBill(metering_pb2.BillRequest(project="acme"))
    direct_cost = _half_up(_whole(1_000, 1_000))
    assert to_nano(bill.total.amount) == expected + direct_cost
    assert bill.requests == 41  # 40 billed lines and the direct call


def test_a_held_line_settles_at_the_batch_price_and_frees_its_hold(services: Services) -> None:
    s = services
    _priced(s)
    admin.set_monthly_budget(s.engine, "acme", "1000")
    held = s.budget.Authorize(
        budget_pb2.AuthorizeRequest(
            request_id="held-1",
            caller=common_pb2.Caller(project_id=s.project, key_id=s.key),
            model=MODEL,
            prompt_tokens_estimate=10_000,
            max_completion_tokens=1_000,
            batch_id=BATCH,
            hold_seconds=24 * 3600,
        )
    )
    assert to_nano(held.reserved.amount) == _half_up(_whole(10_000, 1_000) / 2)
    before = s.budget.GetBudgetStatus(budget_pb2.GetBudgetStatusRequest(project_id=s.project))
    assert before.reserved.amount == held.reserved.amount
    reply = _line(s, "held-1", 10_000, 400)
    after = s.budget.GetBudgetStatus(budget_pb2.GetBudgetStatusRequest(project_id=s.project))
    assert (after.reserved.amount, after.spent.amount) == ("0.00", reply.cost.amount)
    assert to_nano(reply.cost.amount) == _half_up(_whole(10_000, 400) / 2)


def test_the_export_and_the_savings_report_show_batch_lines(services: Services, cli: Any) -> None:
    s = services
    _priced(s)
    _line(s, "line-1", 2_000, 100)
    record(s, "direct", 2_000, 100, model_requested=MODEL, model_served=MODEL)
    today = utcnow().date().isoformat()
    pages = s.metering.ExportCalls(
        metering_pb2.ExportCallsRequest(project="acme", from_day=today, to_day=today)
    )
    tags = {c.request_id: c.batch_id for page in pages for c in page.calls}
    assert tags == {"line-1": BATCH, "direct": ""}
    code, out, _ = cli("calls", "--project", "acme", "--from", today, "--to", today, "--csv")
    assert code == 0
    shown = {r["request_id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (shown["line-1"]["batch_id"], shown["direct"]["batch_id"]) == (BATCH, "")
    savings = s.metering.GetSavings(metering_pb2.SavingsRequest(project_id=s.project))
    (batch,) = [line for line in savings.lines if line.lever == "batch"]
    whole, cost = _half_up(_whole(2_000, 100)), _half_up(_whole(2_000, 100) / 2)
    assert batch.requests == 1
    assert (to_nano(batch.cost.amount), to_nano(batch.saved.amount)) == (cost, whole - cost)
    assert to_nano(batch.reference.amount) == whole
