"""Upstream providers behind one `Provider` protocol; one module a provider."""

from __future__ import annotations

from collections.abc import Mapping

from services.router.providers.anthropic import AnthropicProvider
from services.router.providers.base import (
    ChatCall,
    Completion,
    Provider,
    StreamChunk,
    UpstreamError,
    usage_from,
)
from services.router.providers.demo import DemoProvider
from services.router.providers.gemini import GeminiProvider
from services.router.providers.openai import OpenAIProvider
from tollgate.config import ProviderConfig, Settings

__all__ = [
    "AnthropicProvider",
    "ChatCall",
    "Completion",
    "DemoProvider",
    "GeminiProvider",
    "OpenAIProvider",
    "Provider",
    "StreamChunk",
    "UpstreamError",
    "build_provider",
    "build_providers",
    "usage_from",
]


def build_provider(config: ProviderConfig) -> Provider:
    if config.kind == "demo":
        return DemoProvider(config)
    if config.kind == "openai":
        return OpenAIProvider(config)
    if config.kind == "anthropic":
        return AnthropicProvider(config)
    if config.kind == "gemini":
        return GeminiProvider(config)
    raise ValueError(f"provider {config.name!r}: unknown kind {config.kind!r}")


def build_providers(settings: Settings) -> Mapping[str, Provider]:
    return {config.name: build_provider(config) for config in settings.providers}
