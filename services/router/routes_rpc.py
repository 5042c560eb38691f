"""Router.ListRoutes: each route, its deployments (weight, cooldown, recent errors)
and fallbacks, and the priority and task rules, as `tollgate routes` shows them."""

from __future__ import annotations

import logging
import time

from services.router.routing.cooldown import DeploymentState, Health, RecentError
from services.router.routing.wiring import Routing
from tollgate.routing_config import Priority
from tollgate.v1 import common_pb2, router_pb2

log = logging.getLogger(__name__)

PRIORITIES = {
    Priority.HIGH: common_pb2.PRIORITY_HIGH,
    Priority.MEDIUM: common_pb2.PRIORITY_MEDIUM,
    Priority.LOW: common_pb2.PRIORITY_LOW,
}


def _error_line(error: RecentError) -> str:
    """ "time status message": the time in UTC, ISO 8601 to the second."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(error.at))
    return f"{at} {error.status} {error.code}: {error.message}"


async def _state(routing: Routing, key: str) -> DeploymentState:
    try:
        return await routing.cooldowns.state(key)
    except Exception as exc:  # Redis away: calls treat it as healthy, so do we
        log.warning("cooldown state of %s unavailable: %s", key, exc)
        return DeploymentState(key, Health.HEALTHY, 0, None, ())


async def list_routes(routing: Routing) -> router_pb2.ListRoutesResponse:
    states: dict[str, DeploymentState] = {}
    reply = router_pb2.ListRoutesResponse()
    for name in routing.table.models():
        route = routing.table.route(name)
        if route is None:
            continue
        listed = reply.routes.add(model=name, fallbacks=route.fallbacks)
        for deployment in route.deployments:
            if deployment.key not in states:
                states[deployment.key] = await _state(routing, deployment.key)
            state = states[deployment.key]
            listed.deployments.add(
                provider=deployment.provider,
                model=deployment.model,
                # Weights are whole numbers in practice; a fraction rounds, at least 1.
                weight=max(1, round(deployment.weight)),
                cooling_until_unix_ms=int(state.cooling_until * 1000) if state.cooling_until else 0,
                consecutive_failures=state.failures,
                recent_errors=[_error_line(e) for e in state.recent_errors],
            )
    for priority, models in routing.rules.priorities.items():
        reply.priority_rules.add(priority=PRIORITIES[priority], models=dict(models))
    reply.task_rules.update(routing.rules.tasks)
    return reply
