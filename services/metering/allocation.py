"""Cost allocation: split a shared total (a provider's invoice, say) across projects in
proportion to their metered cost over a range of days.

Exact to the currency's smallest unit (0.01 for CNY and USD) by the largest-remainder
method: each project first gets the whole units of its exact share, rounded down; the
units left over go one each to the projects with the largest remainders, ties to the
project whose name sorts first. The shares sum to the total exactly, each is within one
unit of its exact proportion, and the same input always gives the same split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, func, select

from tollgate.db import read_transaction
from tollgate.db.models import PROJECTS, ROLLUPS
from tollgate.money import check_currency, parse_amount

MINOR_UNIT_DIGITS = {"CNY": 2, "USD": 2}


def split(total_units: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total_units` whole units split in proportion to `weights` (name -> weight)."""
    whole = sum(weights.values())
    if total_units < 0 or any(w < 0 for w in weights.values()):
        raise ValueError("the total and the weights must be non-negative")
    if whole == 0:
        raise ValueError("nothing was metered for these projects in this range: no basis to split")
    shares = {name: total_units * w // whole for name, w in weights.items()}
    remainders = {name: total_units * w % whole for name, w in weights.items()}
    left = total_units - sum(shares.values())
    for name in sorted(weights, key=lambda n: (-remainders[n], n))[:left]:
        shares[name] += 1
    return shares


@dataclass(frozen=True)
class Share:
    project: str
    metered_nano: int
    metered_currency: str
    share: Decimal  # in the total's currency, exact to its smallest unit


@dataclass(frozen=True)
class Allocation:
    total: Decimal
    currency: str
    first: date
    last: date
    shares: list[Share]


def to_units(amount: str, currency: str) -> tuple[Decimal, int]:
    """A total such as "1234.56" and its whole number of the currency's smallest units."""
    value = parse_amount(amount, "total")
    digits = MINOR_UNIT_DIGITS[currency]
    units = value.scaleb(digits)
    if units != units.to_integral_value():
        raise ValueError(f"total: {amount!r} is finer than 0.{'0' * (digits - 1)}1 {currency}")
    return value, int(units)


def allocate(
    engine: Engine,
    total: str,
    currency: str,
    first: date,
    last: date,
    projects: Sequence[str] | None = None,
) -> Allocation:
    """Split `total` across `projects` (names; default every project) by their metered
    cost over the inclusive UTC days [first, last]."""
    currency = check_currency(currency)
    value, units = to_units(total, currency)
    if first > last:
        raise ValueError(f"from ({first}) is after to ({last})")
    with read_transaction(engine) as conn:
        known = {
            name: (project_id, project_currency)
            for project_id, name, project_currency in conn.execute(
                select(PROJECTS.c.id, PROJECTS.c.name, PROJECTS.c.currency)
            ).all()
        }
        metered = dict(
            conn.execute(
                select(ROLLUPS.c.project_id, func.sum(ROLLUPS.c.cost_nano))
                .where(ROLLUPS.c.day >= first, ROLLUPS.c.day <= last)
                .group_by(ROLLUPS.c.project_id)
            ).all()
        )
    names = sorted(set(projects)) if projects else sorted(known)
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(f"projects: no project named {', '.join(missing)}")
    if not names:
        raise ValueError("there are no projects to allocate to")
    currencies = sorted({known[name][1] for name in names})
    if len(currencies) > 1:
        raise ValueError(
            f"the projects bill in different currencies ({', '.join(currencies)}); "
            "allocate across projects of one currency (--projects)"
        )
    weights = {name: int(metered.get(known[name][0]) or 0) for name in names}
    shares = split(units, weights)
    exponent = -MINOR_UNIT_DIGITS[currency]
    return Allocation(
        total=value,
        currency=currency,
        first=first,
        last=last,
        shares=[
            Share(name, weights[name], currencies[0], Decimal(shares[name]).scaleb(exponent))
            for name in names
        ],
    )
