"""`tollgate serve metering`: the Metering gRPC service."""

from __future__ import annotations

import threading
from functools import partial

from services.metering.ledger import UsageLedger
from services.metering.server import MeteringServicer
from tollgate.config import Service, Settings, for_service
from tollgate.db import make_engine
from tollgate.grpcutil import run_sync_server, sync_channel, use_internal_credential
from tollgate.observability.metrics import serve_metrics
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc


def main(settings: Settings, stop: threading.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT, or until `stop` is set (one-process mode)."""
    settings = for_service(settings, Service.METERING)  # no upstream key or admin token
    use_internal_credential(settings)
    # No tokenizer preloaded: Metering counts only for CountTokens, off the call path;
    # the first one loads the vocabulary it needs (about half a second, once), and a
    # process that never counts saves its 42 MB (tollgate/tokens.py).
    engine = make_engine(settings.database_url)
    channel = sync_channel(settings.addrs["budget"])
    servicer = MeteringServicer(UsageLedger(engine), budget_pb2_grpc.BudgetStub(channel))
    metrics = serve_metrics("metering", settings.metrics_listens.get("metering", ""))
    run_sync_server(
        "metering",
        settings.listens["metering"],
        [
            (
                partial(metering_pb2_grpc.add_MeteringServicer_to_server, servicer),
                "tollgate.v1.Metering",
            )
        ],
        stop=stop,
    )
    if metrics is not None:
        metrics.stop()
    channel.close()
    engine.dispose()
