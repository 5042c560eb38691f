"""What the Batch API's routes work with: the gateway's own `Deps` (gate, catalog,
Budget), the router's Files and Batches stubs, and the caps of BatchSettings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from services.gateway.deps import Deps
from services.gateway.errors import unavailable
from tollgate.batch_config import BatchSettings
from tollgate.v1 import batch_pb2_grpc


@dataclass
class BatchDeps:
    deps: Deps
    files: batch_pb2_grpc.FilesStub
    batches: batch_pb2_grpc.BatchesStub
    settings: BatchSettings

    @classmethod
    def over(
        cls, deps: Deps, router: grpc.aio.Channel | None, settings: BatchSettings
    ) -> BatchDeps:
        """The Batch API on the router's channel (None: every call answers a 503)."""
        if router is None:
            return cls(deps, NoRouter(), NoRouter(), settings)  # type: ignore[arg-type]
        return cls(
            deps, batch_pb2_grpc.FilesStub(router), batch_pb2_grpc.BatchesStub(router), settings
        )


class NoRouter:
    """A stub of no router: each call is the router's 503."""

    def __getattr__(self, name: str) -> Any:
        raise unavailable("router")
