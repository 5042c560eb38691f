"""In-memory Budget and Router stubs for the chat request path (relay.open_relay), and
the helpers that drive it: shared by test_relay and test_decisions."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry import trace

from services.gateway.caller import Caller
from services.gateway.catalog import ModelCatalog
from services.gateway.chat_body import parse_chat
from services.gateway.context import CallContext
from services.gateway.deps import Deps
from services.gateway.gate import Gate
from services.gateway.policy_cache import NO_KEY_RULES, NO_PROJECT_RULES, ProjectRules
from services.gateway.relay import Relay, open_relay
from tollgate.config import Route
from tollgate.v1 import budget_pb2, common_pb2, router_pb2

CALLER = Caller("key_1", "proj_1", "acme", "CNY")


class FakeBudget:
    def __init__(
        self,
        decision: budget_pb2.AuthorizeResponse.Decision = budget_pb2.AuthorizeResponse.ALLOWED,
        reuse_ms: int = 0,
    ) -> None:
        self.decision = decision
        self.reuse_ms = reuse_ms
        self.authorized: list[budget_pb2.AuthorizeRequest] = []
        self.released: list[str] = []

    async def Authorize(self, request: budget_pb2.AuthorizeRequest, **_: Any) -> Any:
        self.authorized.append(request)
        return budget_pb2.AuthorizeResponse(decision=self.decision, reuse_ms=self.reuse_ms)

    async def Release(self, request: budget_pb2.ReleaseRequest, **_: Any) -> Any:
        self.released.append(request.request_id)
        return budget_pb2.ReleaseResponse()


@dataclass
class FakeStream:
    events: list[router_pb2.ChatEvent]
    cancelled: bool = False

    async def read(self) -> Any:
        return self.events.pop(0) if self.events else grpc.aio.EOF

    def cancel(self) -> bool:
        self.cancelled = True
        return True


@dataclass
class FakeRouter:
    events: list[router_pb2.ChatEvent]
    requests: list[router_pb2.ChatRequest] = field(default_factory=list)

    def ChatCompletion(self, request: router_pb2.ChatRequest, **_: Any) -> FakeStream:
        self.requests.append(request)
        return FakeStream(list(self.events))


class FakeKeys:
    def forget(self, secret: str, *_: Any) -> None:
        pass

    def on_change(self, listener: Any) -> None:
        pass


@dataclass
class FakePolicies:
    project: ProjectRules

    async def rules(self, project_id: str, key_id: str) -> Any:
        return self.project, NO_KEY_RULES

    def on_change(self, listener: Any) -> None:
        pass


def deps_for(
    router: FakeRouter, budget: FakeBudget, project: ProjectRules = NO_PROJECT_RULES
) -> Deps:
    catalog = ModelCatalog(router)  # type: ignore[arg-type]
    catalog.routes = {"demo": Route("demo", "demo-1", "demo", "demo")}
    catalog._loaded_at = time.monotonic()  # known: no ListModels
    return Deps(
        gate=Gate(FakeKeys()),  # type: ignore[arg-type]
        models=catalog,
        budget=budget,  # type: ignore[arg-type]
        router=router,  # type: ignore[arg-type]
        metering=None,  # type: ignore[arg-type]
        policies=FakePolicies(project),  # type: ignore[arg-type]
    )


def context() -> CallContext:
    span = trace.get_tracer(__name__).start_span("test")
    return CallContext("req_1", span, 1_700_000_000_000, CALLER, "tg-secret")


def usage(prompt: int, completion: int) -> router_pb2.ChatEvent:
    return router_pb2.ChatEvent(
        usage=common_pb2.Usage(prompt_tokens=prompt, completion_tokens=completion)
    )


ANSWER = router_pb2.ChatEvent(response=b'{"choices": []}')


def open_call(deps: Deps, body: dict[str, Any]) -> Relay:
    return asyncio.run(open_relay(deps, context(), parse_chat(json.dumps(body).encode())))


def _hello() -> dict[str, Any]:
    return {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
