"""Reading one setting: from the environment, or from a section of the YAML file,
each refusal a ConfigError naming the setting."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from tollgate.alertconfig import AlertSettings, parse_alerts
from tollgate.cache_config import CacheConfigError, CacheSettings, parse_cache
from tollgate.routing_config import RoutingConfig, RoutingConfigError, parse_routing
from tollgate.settings.model import (
    DEFAULT_MAX_CALL_SECONDS,
    ConfigError,
    PriceConfig,
    ProviderConfig,
)


def env_value(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def decimal(value: Any, what: str) -> Decimal:
    try:
        # str() first: a YAML float such as 2.5 must become Decimal("2.5"), not its binary value.
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ConfigError(f"{what}: {value!r} is not a decimal number") from exc
    if not result.is_finite() or result < 0:
        raise ConfigError(f"{what}: {value!r} must be a finite, non-negative number")
    return result


def timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"TOLLGATE_BUDGET_TIMEZONE / budget_timezone: {name!r} is not a known time zone "
            "(e.g. UTC, Asia/Shanghai)"
        ) from exc
    return name


LOG_FORMATS = ("text", "json")


def log_format(name: str) -> str:
    if name.lower() not in LOG_FORMATS:
        raise ConfigError(f"TOLLGATE_LOG_FORMAT: {name!r} is not one of {', '.join(LOG_FORMATS)}")
    return name.lower()


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def max_call_seconds(env: Mapping[str, str], data: Mapping[str, Any], ttl: float) -> float:
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


def prices(data: dict[str, Any]) -> tuple[PriceConfig, ...]:
    found = []
    for i, item in enumerate(data.get("prices") or []):
        where = f"prices[{i}]"
        if not isinstance(item, dict) or not item.get("model"):
            raise ConfigError(f"{where}: needs model, input, output and currency")
        cached = item.get("cached_input")
        found.append(
            PriceConfig(
                model=str(item["model"]),
                input=decimal(item.get("input"), f"{where}.input"),
                output=decimal(item.get("output"), f"{where}.output"),
                cached_input=None if cached is None else decimal(cached, f"{where}.cached_input"),
                currency=str(item.get("currency", "USD")).upper(),
            )
        )
    return tuple(found)


def routing(
    data: dict[str, Any],
    providers: tuple[ProviderConfig, ...],
    aliases: Mapping[str, str],
    max_call_seconds: float,
) -> RoutingConfig:
    models = {p.name: p.models for p in providers}
    try:
        return parse_routing(data, models, aliases, max_call_seconds)
    except RoutingConfigError as exc:
        raise ConfigError(str(exc)) from exc


def cache(data: dict[str, Any]) -> CacheSettings:
    try:
        return parse_cache(data.get("cache"))
    except CacheConfigError as exc:
        raise ConfigError(str(exc)) from exc


def alerts(data: dict[str, Any], env: Mapping[str, str]) -> AlertSettings:
    try:
        return parse_alerts(data.get("alerts"), env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
