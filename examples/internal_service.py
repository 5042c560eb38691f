"""A team's own service calling tollgate over gRPC, as docs/grpc.md describes: one
budgeted, billed chat call, then the project's bill for the month.

The sequence an internal caller follows (the gateway's own, in
services/gateway/relay.py and reserve.py):

1. Router.ListModels: what serves the model, and every model a fallback may use.
2. Metering.CountTokens: the prompt's tokens, for the hold.
3. Budget.Authorize: reserve the call's worst case under a request id; anything but
   ALLOWED means the call must not run.
4. Router.ChatCompletion with the same request id: the router calls the upstream and
   records the usage with Metering, which prices it and settles the reservation.
   When the router never answered, Budget.Release frees the hold.
5. Metering.GetBill: the month's bill, with this call in it.

Configuration, from the environment:
  TOLLGATE_BUDGET_ADDR, TOLLGATE_METERING_ADDR, TOLLGATE_ROUTER_ADDR   host:port
  TOLLGATE_INTERNAL_TOKEN      the services' shared internal credential
  TOLLGATE_PROJECT_ID, TOLLGATE_KEY_ID   the caller the call is billed to
  TOLLGATE_MODEL (default demo), TOLLGATE_PROMPT, TOLLGATE_MAX_TOKENS (default 32)

Prints `answer: ...`, `served: ...`, `bill: ...` lines; exits 2 when Budget refuses
the call, 1 when the call fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import grpc

from tollgate.v1 import (
    budget_pb2,
    budget_pb2_grpc,
    common_pb2,
    metering_pb2,
    metering_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
)

TIMEOUT_SECONDS = 30.0
BILL_WAIT_SECONDS = 15.0


def need(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"set {name} (see docs/grpc.md)")
    return value


def credential() -> list[tuple[str, str]]:
    """The metadata every call to a tollgate service carries."""
    return [("authorization", "Bearer " + need("TOLLGATE_INTERNAL_TOKEN"))]


def channel(service: str) -> grpc.Channel:
    # With mutual TLS configured (TOLLGATE_GRPC_TLS_*), use grpc.secure_channel with
    # the client certificate, or tollgate.grpcutil.sync_channel, which does both.
    return grpc.insecure_channel(need(f"TOLLGATE_{service.upper()}_ADDR"))


def model_info(router: router_pb2_grpc.RouterStub, model: str) -> router_pb2.ModelInfo:
    models = router.ListModels(
        router_pb2.ListModelsRequest(), metadata=credential(), timeout=TIMEOUT_SECONDS
    )
    for info in models.models:
        if info.id == model:
            return info
    sys.exit(f"the router serves no model {model!r}")


def bill(metering: metering_pb2_grpc.MeteringStub, project: str) -> metering_pb2.UsageReport:
    return metering.GetBill(
        metering_pb2.BillRequest(project=project), metadata=credential(), timeout=TIMEOUT_SECONDS
    )


def chat(
    router: router_pb2_grpc.RouterStub, request: router_pb2.ChatRequest
) -> tuple[dict, router_pb2.Served | None]:  # type: ignore[type-arg]
    """The answer's JSON and what served it; SystemExit(1) on an error event."""
    answer: dict = {}  # type: ignore[type-arg]
    served: router_pb2.Served | None = None
    for event in router.ChatCompletion(request, metadata=credential(), timeout=TIMEOUT_SECONDS):
        kind = event.WhichOneof("event")
        if kind == "served":
            served = event.served
        elif kind == "response":
            answer = json.loads(event.response)
        elif kind == "error":
            sys.exit(f"the call failed: {event.error.http_status} {event.error.message}")
        # "usage" comes last: what the router recorded with Metering.
    return answer, served


def main() -> None:
    model = os.environ.get("TOLLGATE_MODEL", "demo")
    prompt = os.environ.get("TOLLGATE_PROMPT", "What is a token bucket?")
    max_tokens = int(os.environ.get("TOLLGATE_MAX_TOKENS", "32"))
    caller = common_pb2.Caller(
        project_id=need("TOLLGATE_PROJECT_ID"), key_id=need("TOLLGATE_KEY_ID")
    )
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
        }
    ).encode()
    request_id = f"req_{uuid.uuid4().hex}"  # one id for the hold, the call and the ledger row

    budget = budget_pb2_grpc.BudgetStub(channel("budget"))
    metering = metering_pb2_grpc.MeteringStub(channel("metering"))
    router = router_pb2_grpc.RouterStub(channel("router"))

    info = model_info(router, model)
    counted = metering.CountTokens(
        metering_pb2.CountTokensRequest(model=info.served_by, body=body),
        metadata=credential(),
        timeout=TIMEOUT_SECONDS,
    )
    before = bill(metering, caller.project_id).requests

    decision = budget.Authorize(
        budget_pb2.AuthorizeRequest(
            request_id=request_id,
            caller=caller,
            model=info.served_by,
            prompt_tokens_estimate=counted.prompt_tokens,
            max_completion_tokens=max_tokens,
            choices=1,
            candidate_models=list(info.candidates),
        ),
        metadata=credential(),
        timeout=TIMEOUT_SECONDS,
    )
    if decision.decision != budget_pb2.AuthorizeResponse.ALLOWED:
        name = budget_pb2.AuthorizeResponse.Decision.Name(decision.decision)
        print(f"refused: {name}: {decision.message}")
        sys.exit(2)

    request = router_pb2.ChatRequest(
        request_id=request_id,
        caller=caller,
        model=model,
        body=body,
        prompt_tokens_estimate=counted.prompt_tokens,
        started_at_unix_ms=int(time.time() * 1000),
    )
    try:
        answer, served = chat(router, request)
    except grpc.RpcError:
        # The router may never have answered, so it may have recorded nothing: free
        # the hold (a call it did record is settled anyway; a release costs nothing).
        budget.Release(
            budget_pb2.ReleaseRequest(request_id=request_id),
            metadata=credential(),
            timeout=TIMEOUT_SECONDS,
        )
        raise
    print("answer:", answer["choices"][0]["message"]["content"])
    if served is not None:
        print(f"served: {served.deployment} in {served.attempts} attempt(s)")
    print("request id:", request_id)

    # The router records the usage right after the answer; Metering bills it.
    deadline = time.monotonic() + BILL_WAIT_SECONDS
    report = bill(metering, caller.project_id)
    while report.requests <= before and time.monotonic() < deadline:
        time.sleep(0.1)
        report = bill(metering, caller.project_id)
    print(
        f"bill: {report.project} {report.period}: {report.requests} call(s), "
        f"{report.input_tokens} in + {report.output_tokens} out tokens, "
        f"{report.total.amount} {report.total.currency}"
    )


if __name__ == "__main__":
    main()
