"""Configuration: environment variables plus an optional YAML file.

Every listening address and every dial target is a setting, so each service can run
on its own machine and as many replicas as the operator wants. Upstream API keys are
read from the environment (named in the YAML by `api_key_env`), never from the
database, and never appear in `repr()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from tollgate.alertconfig import AlertSettings, parse_alerts

DEMO_MODEL = "demo"
# What the built-in demo upstream serves: a chat model and an embedding model.
DEMO_MODELS = (DEMO_MODEL, "demo-embedding")
PROVIDER_KINDS = ("openai", "anthropic", "gemini", "demo")
DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
}

# The longest a call may run by default: under the default reservation TTL (600 s),
# with a minute left for its usage record to settle.
DEFAULT_MAX_CALL_SECONDS = 540.0

DEFAULT_ADDRS = {
    "gateway": "127.0.0.1:50050",
    "router": "127.0.0.1:50051",
    "metering": "127.0.0.1:50052",
    "budget": "127.0.0.1:50053",
}


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


def _max_call_seconds(env: Mapping[str, str], data: Mapping[str, Any], ttl: float) -> float:
    """TOLLGATE_MAX_CALL_SECONDS (or YAML max_call_seconds): strictly below the
    reservation TTL, or a call could settle after its hold expired and pass a hard
    budget. Unset: 540 s, or 90% of a TTL shorter than 600 s."""
    given = env.get("TOLLGATE_MAX_CALL_SECONDS", "").strip() or data.get("max_call_seconds")
    if given is None or given == "":
        return min(DEFAULT_MAX_CALL_SECONDS, ttl * 0.9)
    try:
        seconds = float(given)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"TOLLGATE_MAX_CALL_SECONDS / max_call_seconds: {given!r} is not a number"
        ) from exc
    if not seconds > 0:
        raise ConfigError(f"TOLLGATE_MAX_CALL_SECONDS / max_call_seconds: {given!r} must be > 0")
    if seconds >= ttl:
        raise ConfigError(
            f"TOLLGATE_MAX_CALL_SECONDS / max_call_seconds ({seconds:g}) must be below "
            f"TOLLGATE_RESERVATION_TTL_SECONDS ({ttl:g}): a call that outlives its "
            "reservation is billed without a hold and can pass a hard budget"
        )
    return seconds


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str  # "openai" (any OpenAI-compatible server), "anthropic", "gemini" or "demo"
    models: tuple[str, ...]
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 600.0


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
    # Where budget days and months begin and end (an IANA zone name, e.g. Asia/Shanghai).
    budget_timezone: str = "UTC"
    # Shared rate-limit counters for gateway replicas; empty: in-process counters.
    # Kept out of repr(): a Redis URL may carry a password.
    redis_url: str = field(default="", repr=False)
    # The router ends any call that runs longer, so it settles while its reservation
    # still holds (below reservation_ttl_seconds; load_settings checks).
    max_call_seconds: float = DEFAULT_MAX_CALL_SECONDS

    def routes(self) -> dict[str, Route]:
        """Every model name a client may send, with what serves it."""
        table: dict[str, Route] = {}
        for provider in self.providers:
            for model in provider.models:
                table.setdefault(model, Route(model, model, provider.name, provider.kind))
        for alias, target in self.aliases.items():
            if target not in table:
                raise ConfigError(f"alias {alias!r} points at {target!r}, which no provider serves")
            table[alias] = Route(alias, target, table[target].provider, table[target].kind)
        return table

    def provider(self, name: str) -> ProviderConfig:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise KeyError(name)


def _env(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _decimal(value: Any, what: str) -> Decimal:
    try:
        # str() first: a YAML float such as 2.5 must become Decimal("2.5"), not its binary value.
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ConfigError(f"{what}: {value!r} is not a decimal number") from exc
    if not result.is_finite() or result < 0:
        raise ConfigError(f"{what}: {value!r} must be a finite, non-negative number")
    return result


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"TOLLGATE_BUDGET_TIMEZONE / budget_timezone: {name!r} is not a known time zone "
            "(e.g. UTC, Asia/Shanghai)"
        ) from exc
    return name


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _providers(data: dict[str, Any], env: Mapping[str, str]) -> tuple[ProviderConfig, ...]:
    providers: list[ProviderConfig] = []
    for i, item in enumerate(data.get("providers") or []):
        where = f"providers[{i}]"
        if not isinstance(item, dict) or not item.get("name"):
            raise ConfigError(f"{where}: needs at least a name")
        kind = str(item.get("kind", "openai"))
        if kind not in PROVIDER_KINDS:
            raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(PROVIDER_KINDS)}")
        models = item.get("models") or (list(DEMO_MODELS) if kind == "demo" else [])
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ConfigError(f"{where}.models: must be a list of model names")
        if not models:
            raise ConfigError(f"{where}.models: name at least one model")
        api_key = ""
        if item.get("api_key_env"):
            api_key = env.get(str(item["api_key_env"]), "")
        base_url = str(item.get("base_url") or DEFAULT_BASE_URLS.get(kind, ""))
        if kind == "openai" and not base_url:
            raise ConfigError(f"{where}.base_url: required for an OpenAI-compatible provider")
        providers.append(
            ProviderConfig(
                name=str(item["name"]),
                kind=kind,
                models=tuple(models),
                base_url=base_url.rstrip("/"),
                api_key=api_key,
                timeout_seconds=float(item.get("timeout_seconds", 600)),
            )
        )
    if not providers and env.get("OPENAI_API_KEY"):
        providers.append(
            ProviderConfig(
                name="openai",
                kind="openai",
                models=tuple(
                    m.strip()
                    for m in _env(env, "TOLLGATE_OPENAI_MODELS", "gpt-4o,gpt-4o-mini").split(",")
                    if m.strip()
                ),
                base_url=_env(env, "OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/"),
                api_key=env["OPENAI_API_KEY"],
            )
        )
    if not providers:
        # No provider key configured: the built-in demo upstream keeps `make run` working offline.
        providers.append(ProviderConfig(name="demo", kind="demo", models=DEMO_MODELS))
    return tuple(providers)


def _prices(data: dict[str, Any]) -> tuple[PriceConfig, ...]:
    prices = []
    for i, item in enumerate(data.get("prices") or []):
        where = f"prices[{i}]"
        if not isinstance(item, dict) or not item.get("model"):
            raise ConfigError(f"{where}: needs model, input, output and currency")
        cached = item.get("cached_input")
        prices.append(
            PriceConfig(
                model=str(item["model"]),
                input=_decimal(item.get("input"), f"{where}.input"),
                output=_decimal(item.get("output"), f"{where}.output"),
                cached_input=None if cached is None else _decimal(cached, f"{where}.cached_input"),
                currency=str(item.get("currency", "USD")).upper(),
            )
        )
    return tuple(prices)


def _alerts(data: dict[str, Any], env: Mapping[str, str]) -> AlertSettings:
    try:
        return parse_alerts(data.get("alerts"), env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    home = Path(_env(env, "TOLLGATE_HOME", ".tollgate")).expanduser().resolve()
    database_url = _env(env, "TOLLGATE_DATABASE_URL", f"sqlite:///{home / 'tollgate.db'}")
    config_file: Path | None = None
    if env.get("TOLLGATE_CONFIG"):
        config_file = Path(env["TOLLGATE_CONFIG"]).expanduser().resolve()
        if not config_file.exists():
            raise ConfigError(f"TOLLGATE_CONFIG: {config_file} does not exist")
    data = _load_yaml(config_file) if config_file else {}

    addrs = {
        name: _env(env, f"TOLLGATE_{name.upper()}_ADDR", d) for name, d in DEFAULT_ADDRS.items()
    }
    listens = {name: _env(env, f"TOLLGATE_{name.upper()}_LISTEN", addrs[name]) for name in addrs}
    try:
        http_port = int(_env(env, "TOLLGATE_HTTP_PORT", "8000"))
        ttl = float(_env(env, "TOLLGATE_RESERVATION_TTL_SECONDS", "600"))
    except ValueError as exc:
        raise ConfigError(f"not a number: {exc}") from exc
    aliases = data.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise ConfigError("aliases: must map alias names to model names")

    return Settings(
        home=home,
        database_url=database_url,
        config_file=config_file,
        http_host=_env(env, "TOLLGATE_HTTP_HOST", "127.0.0.1"),
        http_port=http_port,
        admin_token=env.get("TOLLGATE_ADMIN_TOKEN", ""),
        addrs=addrs,
        listens=listens,
        providers=_providers(data, env),
        aliases={str(k): str(v) for k, v in aliases.items()},
        prices=_prices(data),
        reservation_ttl_seconds=ttl,
        usd_to_cny=_decimal(_env(env, "TOLLGATE_USD_TO_CNY", "7.2"), "TOLLGATE_USD_TO_CNY"),
        log_level=_env(env, "TOLLGATE_LOG_LEVEL", "INFO").upper(),
        spool_dir=Path(_env(env, "TOLLGATE_SPOOL_DIR", str(home / "spool"))).resolve(),
        alerts=_alerts(data, env),
        budget_timezone=_timezone(
            _env(env, "TOLLGATE_BUDGET_TIMEZONE", str(data.get("budget_timezone") or "UTC"))
        ),
        redis_url=_env(env, "TOLLGATE_REDIS_URL", str(data.get("redis_url") or "")),
        max_call_seconds=_max_call_seconds(env, data, ttl),
    )
