"""Each service holds only its own secrets (issue 10): the gateway no upstream API key
or provider proxy, the router no admin token, only Budget the alert webhooks. Checked
on load_settings(env, service) and on what each service's own code is handed when its
main is given the whole suite's settings, as `tollgate serve <name>` gives them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from services.budget import main as budget_main
from services.gateway import main as gateway_main
from services.metering import main as metering_main
from services.router import main as router_main
from tollgate.config import Service, Settings, for_service, load_settings

UPSTREAM_KEY = "sk-test-secret"
YAML_KEY = "sk-yaml-provider-secret"
PROXY_PASSWORD = "proxy-pass-secret"
ADMIN_TOKEN = "admin-token-secret-0123456789"
WEBHOOK_SECRET = "webhook-signing-secret"


def _strings(value: Any) -> Iterator[str]:
    """Every string a settings object holds, repr=False fields included."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _strings(getattr(value, f.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (tuple, list, frozenset, set)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Path):
        yield str(value)


def holds(settings: Settings, secret: str) -> bool:
    return secret in repr(settings) or any(secret in s for s in _strings(settings))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The whole suite's environment, with every kind of secret set."""
    config = tmp_path / "tollgate.yaml"
    config.write_text(
        f"""
providers:
  - {{name: up, kind: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: UP_KEY,
     proxy: "http://user:{PROXY_PASSWORD}@127.0.0.1:3128", models: [m1]}}
alerts:
  webhooks:
    - {{url: "http://127.0.0.1:9/hook", format: dingtalk, secret: {WEBHOOK_SECRET}}}
"""
    )
    return {
        "TOLLGATE_HOME": str(tmp_path),
        "TOLLGATE_CONFIG": str(config),
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "UP_KEY": YAML_KEY,
        "TOLLGATE_ADMIN_TOKEN": ADMIN_TOKEN,
    }


UPSTREAM_SECRETS = (YAML_KEY, PROXY_PASSWORD)


def test_the_whole_suites_settings_hold_every_secret(env: dict[str, str]) -> None:
    # The check below can see a secret: without a service named, all are there.
    settings = load_settings(env)
    for secret in (*UPSTREAM_SECRETS, ADMIN_TOKEN, WEBHOOK_SECRET):
        assert holds(settings, secret), secret


def test_the_gateway_holds_no_upstream_key(env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(env, Service.GATEWAY)
    for secret in (*UPSTREAM_SECRETS, WEBHOOK_SECRET):
        assert not holds(settings, secret), secret
    assert settings.admin_token == ADMIN_TOKEN  # it serves the admin API
    assert [p.name for p in settings.providers] == ["up"]  # nothing else changes
    # OPENAI_API_KEY alone (no YAML providers) configures OpenAI: still not in the gateway.
    openai_only = load_settings({"TOLLGATE_HOME": str(tmp_path), "OPENAI_API_KEY": UPSTREAM_KEY})
    assert holds(openai_only, UPSTREAM_KEY)
    assert not holds(for_service(openai_only, "gateway"), UPSTREAM_KEY)


def test_the_router_holds_its_upstream_keys_but_no_admin_token(env: dict[str, str]) -> None:
    settings = load_settings(env, Service.ROUTER)
    assert not holds(settings, ADMIN_TOKEN)
    assert not holds(settings, WEBHOOK_SECRET)
    (provider,) = settings.providers
    assert provider.api_key == YAML_KEY
    assert PROXY_PASSWORD in provider.proxy


@pytest.mark.parametrize("service", [Service.BUDGET, Service.METERING])
def test_budget_and_metering_hold_neither(env: dict[str, str], service: Service) -> None:
    settings = load_settings(env, service)
    for secret in (*UPSTREAM_SECRETS, ADMIN_TOKEN):
        assert not holds(settings, secret), secret
    assert holds(settings, WEBHOOK_SECRET) is (service is Service.BUDGET)


def test_a_view_changes_nothing_else(env: dict[str, str]) -> None:
    whole = load_settings(env)
    for service in Service:
        view = for_service(whole, service)
        assert for_service(view, service) == view
        assert (
            dataclasses.replace(
                view, providers=whole.providers, alerts=whole.alerts, admin_token=whole.admin_token
            )
            == whole
        )


class Handed(Exception):
    """Stops a service's main at its first step, with the settings its code was given."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("stopped")
        self.settings = settings


def _stop_at_credential(settings: Settings) -> None:
    raise Handed(settings)


def _handed(run: Any) -> Settings:
    with pytest.raises(Handed) as stopped:
        run()
    return stopped.value.settings


def test_each_services_main_narrows_the_suites_settings(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = load_settings(env)  # what `tollgate serve <name>` hands each main
    for module in (gateway_main, router_main, budget_main, metering_main):
        monkeypatch.setattr(module, "use_internal_credential", _stop_at_credential)

    gateway = _handed(lambda: asyncio.run(gateway_main.serve(whole)))
    assert not any(holds(gateway, s) for s in (*UPSTREAM_SECRETS, WEBHOOK_SECRET))
    assert gateway.admin_token == ADMIN_TOKEN

    router = _handed(lambda: asyncio.run(router_main.start_router(whole)))
    assert not holds(router, ADMIN_TOKEN)
    assert router.providers == whole.providers

    for module in (budget_main, metering_main):
        narrowed = _handed(lambda: module.main(whole))  # noqa: B023 (called at once)
        assert not any(holds(narrowed, s) for s in (*UPSTREAM_SECRETS, ADMIN_TOKEN))
