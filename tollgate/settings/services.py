"""Each service holds only its own secrets.

One configuration describes the whole suite, but no process is handed more of it
than it uses: the upstream API keys (and provider proxy URLs, which may carry a
password) stay with the router, the only service that calls upstreams; the admin
token stays with the gateway, the only service that serves the admin API; alert
webhooks (URLs and signing secrets) and the SMTP login stay with Budget, which
delivers alerts. A
service started by `tollgate serve <name>` loads `load_settings(env, service)`, and
each service's main narrows what it is given with `for_service` again, so a caller
that hands it the whole suite's settings cannot widen what it holds.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

from tollgate.settings.model import Settings


class Service(StrEnum):
    GATEWAY = "gateway"
    ROUTER = "router"
    METERING = "metering"
    BUDGET = "budget"


def for_service(settings: Settings, service: Service | str) -> Settings:
    """`settings` without the secrets `service` must not hold; the rest unchanged."""
    service = Service(service)
    providers = settings.providers
    if service is not Service.ROUTER:
        providers = tuple(
            dataclasses.replace(provider, api_key="", proxy="") for provider in providers
        )
    alerts = settings.alerts
    if service is not Service.BUDGET:
        alerts = dataclasses.replace(alerts, webhooks=(), email=None)
    admin_token = settings.admin_token if service is Service.GATEWAY else ""
    return dataclasses.replace(
        settings, providers=providers, alerts=alerts, admin_token=admin_token
    )
