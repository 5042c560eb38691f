"""What a tollgate process is configured with: the Settings dataclass and its parts.

Secrets (upstream API keys, proxy URLs, the admin token, the internal credential, a
Redis URL) are fields kept out of `repr()`; which service holds which of them is
decided in tollgate/settings/services.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from tollgate.alertconfig import AlertSettings
from tollgate.cache_config import CacheSettings
from tollgate.routing_config import RoutingConfig

DEMO_MODEL = "demo"
# What the built-in demo upstream serves: a chat model and an embedding model.
DEMO_MODELS = (DEMO_MODEL, "demo-embedding")

# The longest a call may run by default: under the default reservation TTL (600 s),
# with a minute left for its usage record to settle.
DEFAULT_MAX_CALL_SECONDS = 540.0

DEFAULT_RESPONSES_TTL_SECONDS = 30 * 86400.0

DEFAULT_ADDRS = {
    "gateway": "127.0.0.1:50050",
    "router": "127.0.0.1:50051",
    "metering": "127.0.0.1:50052",
    "budget": "127.0.0.1:50053",
}


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


class UpMode(StrEnum):
    """How `tollgate up` runs the four services (TOLLGATE_UP_MODE, or --one-process,
    --two-processes, --split). Two processes is the default: gateway and router (the
    asyncio services) in one, budget and metering (the blocking ones) in the other. On
    the bench that holds the suite in about half split mode's memory (310 MB against
    580; the target is 400) and serves about as many calls a second on two cores. One
    process holds it in 220 MB, but runs on one core and its services contend for one
    interpreter lock: under load it serves far fewer calls. Split mode runs each in a
    process of its own, restarted alone when it crashes and holding only its own
    secrets; scaling a service out is `tollgate serve` on more machines."""

    ONE = "one"
    TWO = "two"
    SPLIT = "split"

    @property
    def explained(self) -> str:
        if self is UpMode.ONE:
            return "the four services in one process"
        if self is UpMode.TWO:
            return "gateway and router in one process, budget and metering in another"
        return "each service in a process of its own"


@dataclass(frozen=True)
class GrpcTlsFiles:
    """Mutual TLS between the services: this service's certificate chain and key
    (PEM), and the CA that signs every service's certificate."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str  # "openai" (any OpenAI-compatible server), "anthropic", "gemini" or "demo"
    models: tuple[str, ...]
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 600.0
    # An outbound proxy (http://, socks5://; may carry a password) and the connect and
    # read timeouts (None: min(10 s, timeout_seconds) and timeout_seconds).
    proxy: str = field(default="", repr=False)
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    # The APIs besides chat its upstream serves natively ("responses"), so a request in
    # that format passes through untranslated (docs/responses.md).
    apis: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriceConfig:
    model: str
    input: Decimal
    output: Decimal
    cached_input: Decimal | None
    currency: str


@dataclass(frozen=True)
class Route:
    """How a model name the client sends is served."""

    model: str  # as the client names it
    served_model: str  # after alias resolution
    provider: str
    kind: str = ""  # the provider's kind: openai, anthropic, gemini or demo
    # Every upstream model a call may be served by (deployments and fallbacks), as the
    # gateway learns it from Router.ListModels for Budget's hold; empty: not known.
    candidates: tuple[str, ...] = ()
    # The APIs besides chat every candidate's provider serves natively (ListModels).
    native_apis: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    config_file: Path | None
    http_host: str
    http_port: int
    admin_token: str = field(repr=False)
    addrs: Mapping[str, str]  # what clients dial, by service
    listens: Mapping[str, str]  # where each service listens
    providers: tuple[ProviderConfig, ...]
    aliases: Mapping[str, str]
    prices: tuple[PriceConfig, ...]
    reservation_ttl_seconds: float
    usd_to_cny: Decimal
    log_level: str
    spool_dir: Path
    alerts: AlertSettings = field(default_factory=AlertSettings)
    # Routes, fallbacks, cooldowns, retries and priority/task rules (docs/routing.md).
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    # The router's exact-repeat response cache (docs/cache.md); off by default.
    cache: CacheSettings = field(default_factory=CacheSettings)
    # Where budget days and months begin and end (an IANA zone name, e.g. Asia/Shanghai).
    budget_timezone: str = "UTC"
    # Shared rate-limit counters for gateway replicas; empty: in-process counters.
    # Kept out of repr(): a Redis URL may carry a password.
    redis_url: str = field(default="", repr=False)
    # The router ends any call that runs longer, so it settles while its reservation
    # still holds (below reservation_ttl_seconds; load_settings checks).
    max_call_seconds: float = DEFAULT_MAX_CALL_SECONDS
    # What the services present to each other; "" when unset, then they share the state
    # folder's file (tollgate/internal_token.py). Never in repr().
    internal_token: str = field(default="", repr=False)
    # Mutual TLS between the services when all three TOLLGATE_GRPC_TLS_* are set.
    grpc_tls: GrpcTlsFiles | None = None
    # How long the router keeps a stored Responses API response (TOLLGATE_RESPONSES_TTL_DAYS).
    responses_ttl_seconds: float = DEFAULT_RESPONSES_TTL_SECONDS
    # Where each service serves Prometheus metrics over HTTP (GET /metrics), by service
    # (TOLLGATE_<SERVICE>_METRICS_LISTEN, host:port); "" or absent: no metrics listener.
    metrics_listens: Mapping[str, str] = field(default_factory=dict)
    # "text" (a line of `time level service: message`) or "json" (one object a line).
    log_format: str = "text"
    # How `tollgate up` runs the services (TOLLGATE_UP_MODE).
    up_mode: UpMode = UpMode.TWO

    def routes(self) -> dict[str, Route]:
        """Every model name a client may send, with what serves it (a YAML route by
        its first deployment, until the router walks whole routes: docs/routing.md)."""
        table: dict[str, Route] = {}
        for route in self.routing.routes:
            first = route.deployments[0]
            table[route.model] = Route(
                route.model, first.model, first.provider, self.provider(first.provider).kind
            )
        for provider in self.providers:
            for model in provider.models:
                table.setdefault(model, Route(model, model, provider.name, provider.kind))
        for alias, target in self.aliases.items():
            if target not in table:
                raise ConfigError(f"alias {alias!r} points at {target!r}, which no provider serves")
            # An alias is served as its target is: a route's first deployment model, not
            # the route's name (which no price lists).
            served = table[target]
            table[alias] = Route(alias, served.served_model, served.provider, served.kind)
        return table

    def model_names(self) -> set[str]:
        """Every model name a call may carry: the names clients send (routes, aliases,
        provider models) and every upstream model a route's deployments serve."""
        names = set(self.routes())
        for route in self.routing.routes:
            names.update(deployment.model for deployment in route.deployments)
        return names

    def provider(self, name: str) -> ProviderConfig:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise KeyError(name)
