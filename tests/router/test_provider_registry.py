"""One registry finds every provider: the kinds the configuration accepts are exactly
the kinds the router can serve, each kind builds its own provider, and a kind
nothing serves is refused, by the configuration and by a router that would start."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.router.providers import registry
from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.demo import DemoProvider
from services.router.providers.gemini import GeminiProvider
from services.router.providers.openai import OpenAIProvider
from tollgate.config import ConfigError, ProviderConfig
from tollgate.provider_kinds import PROVIDER_KINDS

from .harness import make_settings, run

EXPECTED = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "demo": DemoProvider,
}


def test_the_configuration_accepts_exactly_the_kinds_the_registry_serves() -> None:
    assert sorted(registry.PROVIDERS) == sorted(PROVIDER_KINDS)
    assert registry.unserved_kinds() == []


@pytest.mark.parametrize("kind", PROVIDER_KINDS)
def test_each_kind_builds_its_own_provider(kind: str) -> None:
    config = ProviderConfig(name=f"p-{kind}", kind=kind, models=("m",), base_url="http://x/v1")
    provider = registry.build_provider(config)
    assert type(provider) is EXPECTED[kind] and provider.name == f"p-{kind}"
    run(provider.aclose())


def test_a_kind_without_a_provider_is_refused_when_built() -> None:
    config = ProviderConfig(name="odd", kind="cohere", models=("m",))
    with pytest.raises(registry.UnknownProviderKind, match="'odd': unknown kind 'cohere'"):
        registry.build_provider(config)


def test_the_configuration_refuses_a_kind_no_provider_serves(tmp_path: Path) -> None:
    provider = {"name": "odd", "kind": "cohere", "models": ["m"], "base_url": "http://x"}
    with pytest.raises(ConfigError, match="providers\\[0\\].kind: 'cohere' is not one of"):
        make_settings(tmp_path, "127.0.0.1:1", [provider])


def test_a_router_will_not_start_when_a_configurable_kind_has_no_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, "127.0.0.1:1", [{"name": "demo", "kind": "demo"}])
    assert list(registry.build_providers(settings)) == ["demo"]
    monkeypatch.delitem(registry.PROVIDERS, "gemini")  # type: ignore[attr-defined]
    assert registry.unserved_kinds() == ["gemini"]
    with pytest.raises(registry.UnknownProviderKind, match="no provider serves: gemini"):
        registry.build_providers(settings)
