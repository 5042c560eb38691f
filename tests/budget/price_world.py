"""A priced project for the price tests: the shipped default prices, one project with
a key, and the ReservationBook that bills it (shared by test_prices and test_catalogue)."""

from __future__ import annotations

from decimal import Decimal

from services.budget.admin import operations as admin
from services.budget.prices import seed_prices
from services.budget.reservations import ReservationBook
from tollgate.config import load_settings
from tollgate.db import make_engine

RATE = Decimal("7.2")
SETTINGS = load_settings({"TOLLGATE_HOME": "/nonexistent"})


def setup(
    url: str, currency: str = "USD", budget: str | None = None
) -> tuple[ReservationBook, str, str]:
    engine = make_engine(url)
    seed_prices(engine, SETTINGS)
    project = admin.create_project(engine, "acme", currency=currency, monthly_budget=budget)
    key = admin.create_key(engine, "acme")
    return ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600), project.id, key.info.id


def setup_project(url: str, budget: str | None = "1.00") -> tuple[ReservationBook, str, str]:
    """A CNY project (with a monthly hard budget of `budget`, None: no budget)."""
    engine = make_engine(url)
    seed_prices(engine, SETTINGS)
    project = admin.create_project(engine, "acme", currency="CNY", monthly_budget=budget)
    key = admin.create_key(engine, "acme")
    return ReservationBook(engine, usd_to_cny=RATE, ttl_seconds=600), project.id, key.info.id
