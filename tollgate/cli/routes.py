"""`tollgate routes [--json]`: each route, its deployments, weights, cooldown state
and recent errors, and the priority/task rules, as the router sees them now
(Router.ListRoutes, with the internal credential)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from tollgate.cli.common import add_command
from tollgate.config import Settings
from tollgate.v1 import common_pb2, router_pb2, router_pb2_grpc

RECENT_ERRORS_SHOWN = 3


def _state(deployment: router_pb2.DeploymentState, now_ms: int) -> str:
    if deployment.cooling_until_unix_ms > now_ms:
        left = (deployment.cooling_until_unix_ms - now_ms) / 1000
        return f"cooling {left:.0f}s ({deployment.consecutive_failures} failures in a row)"
    if deployment.consecutive_failures:
        return f"probing ({deployment.consecutive_failures} failures in a row)"
    return "healthy"


def render(reply: router_pb2.ListRoutesResponse, now_ms: int) -> str:
    lines: list[str] = []
    for route in reply.routes:
        fallbacks = f"  fallbacks: {', '.join(route.fallbacks)}" if route.fallbacks else ""
        lines.append(f"{route.model}{fallbacks}")
        for d in route.deployments:
            lines.append(f"  {d.provider}/{d.model}  weight {d.weight}  {_state(d, now_ms)}")
            for error in d.recent_errors[:RECENT_ERRORS_SHOWN]:
                lines.append(f"    {error}")
    for rule in reply.priority_rules:
        name = common_pb2.Priority.Name(rule.priority).removeprefix("PRIORITY_").lower()
        mapped = ", ".join(f"{a} -> {b}" for a, b in sorted(rule.models.items()))
        lines.append(f"priority {name}: {mapped}")
    for task, model in sorted(reply.task_rules.items()):
        lines.append(f"task {task}: {model}")
    return "\n".join(lines)


def as_json(reply: router_pb2.ListRoutesResponse) -> dict[str, Any]:
    return MessageToDict(
        reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def cmd_routes(settings: Settings, args: argparse.Namespace) -> int:
    from tollgate.grpcutil import credential_of, sync_channel, use_credential

    use_credential(credential_of(settings, create_token=False))
    addr = args.addr or settings.addrs["router"]
    channel = sync_channel(addr)
    try:
        reply = router_pb2_grpc.RouterStub(channel).ListRoutes(
            router_pb2.ListRoutesRequest(), timeout=5
        )
    except grpc.RpcError as exc:
        print(
            f"tollgate routes: the router at {addr} did not answer: {exc.code().name}",
            file=sys.stderr,
        )
        return 1
    finally:
        channel.close()
    if args.json:
        print(json.dumps(as_json(reply), indent=2))
    else:
        print(render(reply, int(time.time() * 1000)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser."""
    p = add_command(
        sub, "routes", cmd_routes, "routes, deployments, weights, cooldowns and recent errors"
    )
    p.add_argument("--json", action="store_true", help="the whole answer as JSON")
    p.add_argument("--addr", help="the router to ask (default: the configured one)")
