"""`tollgate serve budget`: the Budget gRPC service, plus a sweeper that releases the
reservations of calls that never settled."""

from __future__ import annotations

import logging
import threading
from functools import partial
from zoneinfo import ZoneInfo

from services.budget.admin.rpc import AdminContext
from services.budget.alerts import start_alert_threads
from services.budget.metrics import watch_budgets
from services.budget.prices import seed_prices
from services.budget.reservations import ReservationBook
from services.budget.server import BudgetServicer
from tollgate.config import Service, Settings, for_service
from tollgate.db import make_engine
from tollgate.grpcutil import run_sync_server, use_internal_credential
from tollgate.observability.metrics import serve_metrics
from tollgate.v1 import budget_pb2_grpc

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0


def _sweep(ledger: ReservationBook, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_SECONDS):
        try:
            expired = ledger.expire()
            if expired:
                log.warning("released %d reservations of calls that never settled", expired)
        except Exception:  # the sweeper must outlive a database hiccup
            log.exception("reservation sweep failed")


def main(settings: Settings, stop: threading.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT, or until `stop` is set (one-process mode)."""
    settings = for_service(settings, Service.BUDGET)  # no upstream key or admin token
    use_internal_credential(settings)
    engine = make_engine(settings.database_url)
    seed_prices(engine, settings)
    ledger = ReservationBook(
        engine,
        usd_to_cny=settings.usd_to_cny,
        ttl_seconds=settings.reservation_ttl_seconds,
        zone=ZoneInfo(settings.budget_timezone),
    )
    stop_threads = threading.Event()
    sweeper = threading.Thread(target=_sweep, args=(ledger, stop_threads), daemon=True)
    sweeper.start()
    start_alert_threads(engine, settings.alerts, stop_threads)
    servicer = BudgetServicer(ledger, AdminContext(engine, ledger.zone, settings.alerts))
    watch_budgets(engine, ledger.zone)
    metrics = serve_metrics("budget", settings.metrics_listens.get("budget", ""))
    run_sync_server(
        "budget",
        settings.listens["budget"],
        [(partial(budget_pb2_grpc.add_BudgetServicer_to_server, servicer), "tollgate.v1.Budget")],
        on_stop=stop_threads.set,
        stop=stop,
    )
    if metrics is not None:
        metrics.stop()
    engine.dispose()
