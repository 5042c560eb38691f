"""The upstream providers: from the YAML `providers:` list, else from OPENAI_API_KEY,
else the built-in demo upstream. A provider's API key is read from the environment
variable its `api_key_env` names, never from the file or the database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollgate.provider_kinds import DEFAULT_BASE_URLS, PROVIDER_KINDS
from tollgate.routing_config import routed_providers
from tollgate.settings.model import DEMO_MODELS, ConfigError, ProviderConfig
from tollgate.settings.values import env_value
from tollgate.transport_config import TransportConfigError, parse_transport

NATIVE_APIS = ("responses",)
OPENAI_API_HOST = "api.openai.com"


def _apis(where: str, item: dict[str, Any], kind: str, base_url: str) -> tuple[str, ...]:
    """The APIs besides chat the upstream serves natively: `apis:` as given; unset,
    the Responses API for OpenAI itself (other OpenAI-compatible servers may lack it)."""
    given = item.get("apis")
    if given is None:
        return _default_apis(kind, base_url)
    if not isinstance(given, list) or not all(api in NATIVE_APIS for api in given):
        raise ConfigError(f"{where}.apis: must be a list of {', '.join(NATIVE_APIS)}")
    return tuple(given)


def _default_apis(kind: str, base_url: str) -> tuple[str, ...]:
    if kind == "openai" and f"://{OPENAI_API_HOST}" in base_url:
        return NATIVE_APIS
    return ()


def _from_yaml(
    where: str, item: Any, routed: frozenset[str], env: Mapping[str, str]
) -> ProviderConfig:
    if not isinstance(item, dict) or not item.get("name"):
        raise ConfigError(f"{where}: needs at least a name")
    kind = str(item.get("kind", "openai"))
    if kind not in PROVIDER_KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(PROVIDER_KINDS)}")
    models = item.get("models") or (list(DEMO_MODELS) if kind == "demo" else [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"{where}.models: must be a list of model names")
    if not models and str(item["name"]) not in routed:
        raise ConfigError(f"{where}.models: name at least one model, or use it in a route")
    try:
        transport = parse_transport(item, where)
    except TransportConfigError as exc:
        raise ConfigError(str(exc)) from exc
    api_key = ""
    if item.get("api_key_env"):
        api_key = env.get(str(item["api_key_env"]), "")
    base_url = str(item.get("base_url") or DEFAULT_BASE_URLS.get(kind, ""))
    if kind == "openai" and not base_url:
        raise ConfigError(f"{where}.base_url: required for an OpenAI-compatible provider")
    return ProviderConfig(
        name=str(item["name"]),
        kind=kind,
        models=tuple(models),
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        timeout_seconds=float(item.get("timeout_seconds", 600)),
        proxy=transport.proxy,
        connect_timeout_seconds=transport.connect_timeout_seconds,
        read_timeout_seconds=transport.read_timeout_seconds,
        apis=_apis(where, item, kind, base_url),
    )


def _from_openai_key(env: Mapping[str, str]) -> ProviderConfig:
    models = env_value(env, "TOLLGATE_OPENAI_MODELS", "gpt-4o,gpt-4o-mini").split(",")
    base_url = env_value(env, "OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    return ProviderConfig(
        name="openai",
        kind="openai",
        models=tuple(m.strip() for m in models if m.strip()),
        base_url=base_url,
        api_key=env["OPENAI_API_KEY"],
        apis=_default_apis("openai", base_url),
    )


def providers(data: dict[str, Any], env: Mapping[str, str]) -> tuple[ProviderConfig, ...]:
    routed = routed_providers(data)  # providers a route deploys to need no `models:`
    found = [
        _from_yaml(f"providers[{i}]", item, routed, env)
        for i, item in enumerate(data.get("providers") or [])
    ]
    if not found and env.get("OPENAI_API_KEY"):
        found.append(_from_openai_key(env))
    if not found:
        # No provider key configured: the built-in demo upstream keeps `make run` working offline.
        found.append(ProviderConfig(name="demo", kind="demo", models=DEMO_MODELS))
    return tuple(found)
