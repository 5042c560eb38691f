"""Upstream providers behind one `Provider` protocol; one module (or folder) a
provider, found through one registry (`registry.py`)."""

from __future__ import annotations

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
from services.router.providers.registry import (
    PROVIDERS,
    UnknownProviderKind,
    build_provider,
    build_providers,
)

__all__ = [
    "PROVIDERS",
    "AnthropicProvider",
    "ChatCall",
    "Completion",
    "DemoProvider",
    "GeminiProvider",
    "OpenAIProvider",
    "Provider",
    "StreamChunk",
    "UnknownProviderKind",
    "UpstreamError",
    "build_provider",
    "build_providers",
    "usage_from",
]
