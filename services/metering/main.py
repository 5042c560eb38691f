"""`tollgate serve metering`: the Metering gRPC service."""

from __future__ import annotations

from functools import partial

from services.metering.ledger import UsageLedger
from services.metering.server import MeteringServicer
from tollgate import tokens
from tollgate.config import Settings
from tollgate.db import make_engine
from tollgate.grpcutil import run_sync_server, sync_channel
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc


def main(settings: Settings) -> None:
    tokens.preload()
    engine = make_engine(settings.database_url)
    channel = sync_channel(settings.addrs["budget"])
    servicer = MeteringServicer(UsageLedger(engine), budget_pb2_grpc.BudgetStub(channel))
    run_sync_server(
        "metering",
        settings.listens["metering"],
        [
            (
                partial(metering_pb2_grpc.add_MeteringServicer_to_server, servicer),
                "tollgate.v1.Metering",
            )
        ],
    )
    channel.close()
    engine.dispose()
