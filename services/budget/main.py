"""`tollgate serve budget`: the Budget gRPC service, plus a sweeper that releases the
reservations of calls that never settled."""

from __future__ import annotations

import logging
import threading
from functools import partial
from zoneinfo import ZoneInfo

from services.budget.alerts import start_alert_threads
from services.budget.prices import seed_prices
from services.budget.reservations import Ledger
from services.budget.server import BudgetServicer
from tollgate.config import Settings
from tollgate.db import make_engine
from tollgate.grpcutil import run_sync_server
from tollgate.v1 import budget_pb2_grpc

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0


def _sweep(ledger: Ledger, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_SECONDS):
        try:
            expired = ledger.expire()
            if expired:
                log.warning("released %d reservations of calls that never settled", expired)
        except Exception:  # the sweeper must outlive a database hiccup
            log.exception("reservation sweep failed")


def main(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    seed_prices(engine, settings)
    ledger = Ledger(
        engine,
        usd_to_cny=settings.usd_to_cny,
        ttl_seconds=settings.reservation_ttl_seconds,
        zone=ZoneInfo(settings.budget_timezone),
    )
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep, args=(ledger, stop), daemon=True)
    sweeper.start()
    start_alert_threads(engine, settings.alerts, stop)
    servicer = BudgetServicer(ledger)
    run_sync_server(
        "budget",
        settings.listens["budget"],
        [(partial(budget_pb2_grpc.add_BudgetServicer_to_server, servicer), "tollgate.v1.Budget")],
        on_stop=stop.set,
    )
    engine.dispose()
