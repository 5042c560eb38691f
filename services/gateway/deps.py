"""What every route of the gateway works with: the gate, the model catalog, the
policies and the stubs of the services behind it, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.gateway.auth import KeyCache
from services.gateway.authorizer import Authorizer
from services.gateway.catalog import ModelCatalog
from services.gateway.cost_header import CostQuotes
from services.gateway.decisions import DecisionCache
from services.gateway.gate import Gate
from services.gateway.policy_cache import PolicyCache
from services.gateway.ratelimit import Limiter
from tollgate.v1 import budget_pb2_grpc, metering_pb2_grpc, responses_pb2_grpc, router_pb2_grpc

AUTHORIZE_TIMEOUT_SECONDS = 5.0


@dataclass
class Deps:
    gate: Gate
    models: ModelCatalog
    budget: budget_pb2_grpc.BudgetStub
    router: router_pb2_grpc.RouterStub
    metering: metering_pb2_grpc.MeteringStub
    policies: PolicyCache | None = None  # None: no model policies (tests)
    # Stored Responses API responses (the router hosts the store); None: not stored.
    responses: responses_pb2_grpc.ResponseStoreStub | None = None
    # Prices and multipliers for the x-tollgate-cost header; made from `budget` if unset.
    costs: CostQuotes | None = None
    # Budget's reusable ALLOWED answers (decisions.py): dropped whole when a key or a
    # policy changes.
    decisions: DecisionCache = field(default_factory=DecisionCache)
    # Authorize calls to `budget`, in batches when many are in flight (authorizer.py).
    authorizer: Authorizer = field(init=False)

    def __post_init__(self) -> None:
        self.authorizer = Authorizer(self.budget, AUTHORIZE_TIMEOUT_SECONDS)
        if self.costs is None:
            self.costs = CostQuotes(self.budget)
        self.keys.on_change(self.decisions.clear)
        if self.policies is not None:
            self.policies.on_change(self.decisions.clear)

    @property
    def keys(self) -> KeyCache:
        return self.gate.keys

    @property
    def limits(self) -> Limiter:
        return self.gate.limits
