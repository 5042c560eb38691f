"""The one registry of providers: each kind the configuration may name, and what
serves it.

Adding a provider is adding its module (or folder) beside the others, implementing
`Provider`, one line in `PROVIDERS`, and its kind in tollgate/provider_kinds.py (the
plain list the shared configuration checks kinds against, since `tollgate/` imports
no service). `build_providers` refuses to start a router whose configuration may
name a kind this registry cannot serve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.base import Provider
from services.router.providers.demo import DemoProvider
from services.router.providers.gemini import GeminiProvider
from services.router.providers.observed import Observed
from services.router.providers.openai import OpenAIProvider
from tollgate.config import ProviderConfig, Settings
from tollgate.provider_kinds import PROVIDER_KINDS

ProviderFactory = Callable[[ProviderConfig], Provider]

PROVIDERS: Mapping[str, ProviderFactory] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "demo": DemoProvider,
}


class UnknownProviderKind(ValueError):
    """A kind the registry has no provider for."""


def unserved_kinds(kinds: tuple[str, ...] = PROVIDER_KINDS) -> list[str]:
    """The kinds a configuration may name that no provider here serves."""
    return [kind for kind in kinds if kind not in PROVIDERS]


def build_provider(config: ProviderConfig) -> Provider:
    factory = PROVIDERS.get(config.kind)
    if factory is None:
        raise UnknownProviderKind(f"provider {config.name!r}: unknown kind {config.kind!r}")
    return factory(config)


def build_providers(settings: Settings) -> Mapping[str, Provider]:
    unserved = unserved_kinds()
    if unserved:
        raise UnknownProviderKind(
            f"the configuration accepts provider kinds no provider serves: {', '.join(unserved)}"
        )
    # Each one timed, counted and traced alike (observed.py).
    return {config.name: Observed(build_provider(config), config) for config in settings.providers}
