"""load_settings: the environment plus an optional YAML file (TOLLGATE_CONFIG), read
into one Settings, every bad value refused with a ConfigError naming it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tollgate.settings import secrets, values
from tollgate.settings.model import DEFAULT_ADDRS, ConfigError, Settings, UpMode
from tollgate.settings.providers import providers
from tollgate.settings.services import Service, for_service
from tollgate.settings.values import env_value


def load_settings(
    env: Mapping[str, str] | None = None, service: Service | str | None = None
) -> Settings:
    """The whole suite's settings, or (`service` named) only what that service may hold."""
    env = os.environ if env is None else env
    settings = _load(env)
    return settings if service is None else for_service(settings, service)


def _load(env: Mapping[str, str]) -> Settings:
    home = Path(env_value(env, "TOLLGATE_HOME", ".tollgate")).expanduser().resolve()
    database_url = env_value(env, "TOLLGATE_DATABASE_URL", f"sqlite:///{home / 'tollgate.db'}")
    config_file: Path | None = None
    if env.get("TOLLGATE_CONFIG"):
        config_file = Path(env["TOLLGATE_CONFIG"]).expanduser().resolve()
        if not config_file.exists():
            raise ConfigError(f"TOLLGATE_CONFIG: {config_file} does not exist")
    data = values.load_yaml(config_file) if config_file else {}

    addrs = {
        name: env_value(env, f"TOLLGATE_{name.upper()}_ADDR", d)
        for name, d in DEFAULT_ADDRS.items()
    }
    listens = {
        name: env_value(env, f"TOLLGATE_{name.upper()}_LISTEN", addrs[name]) for name in addrs
    }
    try:
        http_port = int(env_value(env, "TOLLGATE_HTTP_PORT", "8000"))
        ttl = float(env_value(env, "TOLLGATE_RESERVATION_TTL_SECONDS", "600"))
        responses_ttl_days = float(env_value(env, "TOLLGATE_RESPONSES_TTL_DAYS", "30"))
    except ValueError as exc:
        raise ConfigError(f"not a number: {exc}") from exc
    if not responses_ttl_days > 0:
        raise ConfigError("TOLLGATE_RESPONSES_TTL_DAYS: must be more than 0")
    aliases = data.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise ConfigError("aliases: must map alias names to model names")
    upstreams = providers(data, env)
    aliases = {str(k): str(v) for k, v in aliases.items()}
    max_call_seconds = values.max_call_seconds(env, data, ttl)
    routing = values.routing(data, upstreams, aliases, max_call_seconds)

    return Settings(
        home=home,
        database_url=database_url,
        config_file=config_file,
        http_host=env_value(env, "TOLLGATE_HTTP_HOST", "127.0.0.1"),
        http_port=http_port,
        admin_token=secrets.admin_token(env),
        addrs=addrs,
        listens=listens,
        providers=upstreams,
        aliases=aliases,
        prices=values.prices(data),
        reservation_ttl_seconds=ttl,
        usd_to_cny=values.decimal(
            env_value(env, "TOLLGATE_USD_TO_CNY", "7.2"), "TOLLGATE_USD_TO_CNY"
        ),
        log_level=env_value(env, "TOLLGATE_LOG_LEVEL", "INFO").upper(),
        spool_dir=Path(env_value(env, "TOLLGATE_SPOOL_DIR", str(home / "spool"))).resolve(),
        alerts=values.alerts(data, env),
        routing=routing,
        cache=values.cache(data),
        budget_timezone=values.timezone(
            env_value(env, "TOLLGATE_BUDGET_TIMEZONE", str(data.get("budget_timezone") or "UTC"))
        ),
        redis_url=env_value(env, "TOLLGATE_REDIS_URL", str(data.get("redis_url") or "")),
        max_call_seconds=max_call_seconds,
        internal_token=secrets.internal_token(env),
        grpc_tls=secrets.grpc_tls(env),
        responses_ttl_seconds=responses_ttl_days * 86400,
        metrics_listens={
            name: env_value(env, f"TOLLGATE_{name.upper()}_METRICS_LISTEN", "") for name in addrs
        },
        log_format=values.log_format(env_value(env, "TOLLGATE_LOG_FORMAT", "text")),
        up_mode=_up_mode(env_value(env, "TOLLGATE_UP_MODE", UpMode.TWO.value)),
    )


def _up_mode(value: str) -> UpMode:
    try:
        return UpMode(value.strip().lower())
    except ValueError:
        raise ConfigError(
            f"TOLLGATE_UP_MODE: {value!r} is not {UpMode.ONE.value!r} (the four services "
            f"in one process), {UpMode.TWO.value!r} (gateway and router in one, budget and "
            f"metering in another) or {UpMode.SPLIT.value!r} (a process each)"
        ) from None
